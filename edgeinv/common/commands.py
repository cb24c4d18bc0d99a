"""The commands behind `edgeinv` (see :mod:`edgeinv.common.cli` for the parser and the error contract).

Device and fleet commands (``apps``, ``selftest``, ``serve``, ``backup``, ``bundle``, ``release``,
``update``, ``keygen``) and the per-app commands every app gets (``simulate``, ``train``, ``compress``,
``calibrate``, ``golden``, ``bench``, ``predict``, ``baseline``, ``evaluate-real``). Each takes the parsed
``args`` and a :class:`~edgeinv.common.cli.CliContext` and returns what the CLI prints (text or JSON).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import app as app_registry
from .errors import EdgeinvError, InvalidInputError, ModelError

if TYPE_CHECKING:  # the CLI imports this module; the context type is only named in annotations
    from .cli import CliContext

# ---- generic commands ---------------------------------------------------------------------------


def cmd_apps(args, ctx: CliContext):
    from .runtime.cpu import cpu_features
    from .runtime.manifest import load_manifest
    from .runtime.selftest import device_choice

    rows = []
    for name, app in app_registry.all_apps().items():
        folder = app.models_dir(ctx.settings)
        try:
            models = load_manifest(folder).chosen()
            device = {}
            for c in models:
                try:
                    device[c] = device_choice(app, ctx.settings, c)
                except EdgeinvError as exc:
                    device[c] = {"chosen": None, "accurate": None, "source": str(exc)}
        except EdgeinvError:
            models, device = {}, {}
        rows.append({"name": name, "title": app.title, "configs": list(app.configs), "models": models,
                     "device_models": device,
                     "targets": [{"name": t.name, "unit": t.unit, "kind": t.kind.value} for t in app.targets]})
    feats = cpu_features()
    if ctx.json:
        return {"cpu": feats, "apps": rows}
    flags = ", ".join(k for k in ("avx2", "avx512", "vnni", "neon", "dotprod") if feats.get(k)) or "none"
    lines = [f"CPU: {feats['model']} ({feats['arch']}, class {feats['cpu_class']}; features: {flags})"]
    for r in rows:
        shipped = ", ".join(f"{c}: {v}" for c, v in r["models"].items()) or "no models (run make models)"
        here = ", ".join(f"{c}: {d['chosen']}" for c, d in r["device_models"].items() if d["chosen"] != r["models"].get(c))
        lines.append(f"{r['name']:<15} {r['title']}\n{'':<15} configs: {', '.join(r['configs'])}; models: {shipped}"
                     + (f"\n{'':<15} on this device: {here}" if here else ""))
    return {"text": "\n".join(lines)}


def cmd_selftest(args, ctx: CliContext):
    """Run every shipped variant on its golden set on this CPU; store this device's choice."""
    from .runtime.cpu import cpu_features
    from .runtime.selftest import device_state_path, selftest_apps

    apps = [app_registry.get_app(args.selftest_app)] if args.selftest_app else list(app_registry.all_apps().values())
    reports = selftest_apps(apps, ctx.settings, repeats=args.repeats)
    if not reports:
        raise ModelError("no app has shipped models to self-test", hint="run `make models`")
    feats = cpu_features()
    doc = {"cpu": feats, "state": str(device_state_path(ctx.settings)),
           "ok": all(r["ok"] for r in reports), "apps": reports}
    failed = [f"{r['app']}/{c}" for r in reports for c, e in r["configs"].items() if not e.get("ok")]
    if not ctx.json:
        doc["text"] = _selftest_text(doc)
    if failed:
        from .cli import emit

        emit(doc, ctx.json)
        raise ModelError(f"no variant passed the self-test on this CPU for {', '.join(failed)}")
    return doc


def _selftest_text(doc: dict) -> str:
    f = doc["cpu"]
    flags = ", ".join(k for k in ("avx2", "avx512", "vnni", "neon", "dotprod") if f.get(k)) or "none"
    lines = [f"CPU: {f['model']} ({f['arch']}, class {f['cpu_class']}; features: {flags})"]
    for r in doc["apps"]:
        for config, c in r["configs"].items():
            lines.append(f"\n{r['app']}/{config}: using {c.get('chosen') or 'NOTHING'} (accurate: {c.get('accurate')}; "
                         f"manifest chose {c.get('manifest_chosen')})")
            if c.get("error"):
                lines.append(f"  error: {c['error']}")
            if c.get("note"):
                lines.append(f"  {c['note']}")
            for name, v in c.get("variants", {}).items():
                dev = v.get("deviation") or {}
                devs = ", ".join(f"{t} {d:.3g}" for t, d in dev.items())
                mark = "ok " if v.get("within_budget") else "BAD"
                lat = f"{v['latency_ms']:.3f} ms" if "latency_ms" in v else "-"
                why = f"  <- {v['reasons'][0]}" if v.get("reasons") else ""
                lines.append(f"  {mark} {name:<16} {lat:>10}  {devs}{why}")
    lines.append(f"\nstored in {doc['state']}")
    return "\n".join(lines)


def cmd_calibrate(args, ctx: CliContext):
    """Fine-tune the shipped model on the user's labelled real files (see :mod:`edgeinv.common.calibrate`)."""
    from .calibrate import CalibrationOptions, calibrate

    app = args.app_obj
    for what in (args.data, args.labels):
        if not Path(what).exists():
            raise InvalidInputError(f"no such file or folder: {what}")
    opts = CalibrationOptions(**{k: v for k, v in {
        "epochs": args.epochs, "lr": args.lr, "n_sim": args.n_sim, "seed": args.seed,
        "holdout_fraction": args.holdout_fraction, "holdout_group": args.holdout_group,
        "shrink": getattr(args, "shrink", None)}.items() if v is not None})
    return calibrate(app, Path(args.data), Path(args.labels), Path(args.out), settings=ctx.settings,
                     config=None if args.config in (None, "all") else args.config, options=opts,
                     progress=not ctx.json)


def cmd_golden(args, ctx: CliContext):
    """Add golden sets to the shipped release of an app (no retraining)."""
    from .pipeline import add_golden

    app = args.app_obj
    out = Path(args.out) if args.out else app.models_dir(ctx.settings)
    done = {c: add_golden(app, c, out, progress=not ctx.json) for c in _configs(app, args.config)}
    return {"app": app.name, "configs": {c: {"file": g["file"], "n": g["n"]} for c, g in done.items()},
            "text": "\n".join(f"{app.name}/{c}: wrote {g['file']} ({g['n']} inputs)" for c, g in done.items())}


def cmd_serve(args, ctx: CliContext):
    from .web import serve

    apps = [args.app_obj] if getattr(args, "app_obj", None) else None
    serve(ctx.settings, apps=apps)


def cmd_backup(args, ctx: CliContext):
    from .errors import NotFoundError
    from .web.store import Store

    if not ctx.settings.db_path.is_file():
        raise NotFoundError(f"no result store at {ctx.settings.db_path} (set --data-dir)")
    store = Store(ctx.settings.db_path)
    try:
        out = store.backup(args.dest)
    finally:
        store.close()
    return {**out, "text": f"backup: {out['path']} ({out['bytes']} bytes, {out['results']} results, "
                          f"integrity {out['integrity']})"}


def _read_flag_file(path: str | None, flag: str) -> bytes | None:
    """The bytes of a key file named by a flag (None when the flag is absent); a clear error if unreadable."""
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {flag} {path}: {exc.strerror}") from None


def cmd_bundle(args, ctx: CliContext):
    from .release import build_bundle

    app = app_registry.get_app(args.bundle_app)
    key = _read_flag_file(args.sign_key, "--sign-key")
    enc = _read_flag_file(args.encrypt_for, "--encrypt-for")
    info = build_bundle(app, ctx.settings, args.out, sign_key_pem=key, target=args.target, python=args.python,
                        encrypt_for=enc, models_only=args.models_only, version=args.release_version,
                        min_version=args.min_version)
    signed = "signed" if info["signed"] else "unsigned"
    return {**info, "text": f"wrote {info['path']} ({info['files']} files, {info['wheels']} wheels, "
                            f"{info['size_bytes'] / 1e6:.1f} MB, {signed}{', encrypted' if info['encrypted'] else ''})"}


def cmd_release_publish(args, ctx: CliContext):
    from .update.channel import publish

    key = _read_flag_file(args.sign_key, "--sign-key")
    doc = publish(args.bundle, args.channel, key)
    return {**doc, "text": f"published {doc['app']} {doc['version']} to {doc['channel']} (index serial {doc['serial']})"}


def cmd_update(args, ctx: CliContext):
    from .update.channel import update

    prefix = args.prefix or os.environ.get("EDGEINV_PREFIX") or "/opt/edgeinv"
    doc = update(prefix, args.channel, app=args.update_app, version=args.release_version,
                 allow_downgrade=args.allow_downgrade, allow_unsigned=args.allow_unsigned, wait=args.wait)
    lines = [f"{u['app']}: {u.get('version')} {u['result']}" for u in doc["updates"]]
    return {**doc, "text": "\n".join(lines)}


def cmd_keygen(args, ctx: CliContext):
    from .runtime.bundle import generate_signing_key

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    if args.device:
        from .runtime.bundle import generate_device_key

        private, public = folder / "device.key", folder / "device.pub.pem"
        if private.exists():
            raise InvalidInputError(f"{private} exists; refusing to overwrite a device key")
        priv, pub = generate_device_key()
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(priv)
        public.write_bytes(pub)
        return {"private_key": str(private), "public_key": str(public),
                "text": f"wrote {private} (mode 0600, stays on the device) and {public} (for bundle --encrypt-for)"}
    private, public = folder / "signing.pem", folder / "signing.pub.pem"
    if private.exists():
        raise InvalidInputError(f"{private} exists; refusing to overwrite a signing key")
    priv, pub = generate_signing_key()
    private.touch(mode=0o600)
    private.write_bytes(priv)
    public.write_bytes(pub)
    return {"private_key": str(private), "public_key": str(public),
            "text": f"wrote {private} (keep it off the devices) and {public} (install it on the devices)"}


def _configs(app, config: str | None) -> list[str]:
    if config in (None, "all"):
        return list(app.configs)
    return [app.check_config(config)]


def _recipe(app, config: str, args):
    import dataclasses

    recipe = app.recipe(config)
    changes = {}
    for name in ("epochs", "n_train", "seed"):
        v = getattr(args, name, None)
        if v is not None:
            changes[name] = v
    if getattr(args, "quick", False):
        changes.update(n_train=min(recipe.n_train, 400), n_val=min(recipe.n_val, 100),
                       n_test=min(recipe.n_test, 100), epochs=min(changes.get("epochs", recipe.epochs), 3),
                       finetune_epochs=1, distill_epochs=2, n_calibration=min(recipe.n_calibration, 32),
                       patience=2)
    return dataclasses.replace(recipe, **changes)


def cmd_simulate(args, ctx: CliContext):
    app = args.app_obj
    rng = np.random.default_rng(args.seed)
    params = {k[len("sim_"):]: v for k, v in vars(args).items() if k.startswith("sim_") and v is not None}
    if args.count < 1:
        raise InvalidInputError(f"--count must be >= 1, got {args.count}")
    out = Path(args.out)
    written = []
    for i in range(args.count):
        path = out if args.count == 1 else out.with_name(f"{out.stem}_{i:03d}{out.suffix}")
        info = app.write_example(path, rng, **params)
        written.append({"path": str(path), **(info or {})})
    return {"written": written, "text": "\n".join(f"wrote {w['path']}" for w in written)}


def cmd_train(args, ctx: CliContext):
    from .pipeline import train_teacher

    out = Path(args.out)
    reports = {}
    for config in _configs(app := args.app_obj, args.config):
        reports[config] = train_teacher(app, config, out, recipe=_recipe(app, config, args))
    return {"app": app.name, "out": str(out), "configs": reports}


def cmd_compress(args, ctx: CliContext):
    from .pipeline import build_release

    app = args.app_obj
    if args.quick and not args.out:
        raise InvalidInputError("--quick builds are for trying things out and never replace the shipped models; "
                                "give --out DIR")
    out = Path(args.out) if args.out else app.models_dir(ctx.settings)
    entries = {}
    for config in _configs(app, args.config):
        entries[config] = build_release(app, config, out, recipe=_recipe(app, config, args))
    summary = {c: {"chosen": e.get("chosen"), "accurate": e.get("accurate")} for c, e in entries.items()}
    text = "\n".join(f"{app.name}/{c}: chosen {v['chosen']} (accurate: {v['accurate']})" for c, v in summary.items())
    after = None
    if not args.quick and out == app.models_dir(ctx.settings):  # the shipped models changed: the app's follow-ups
        after = app.after_release(out, lambda config: ctx.runner(app, config), progress=not ctx.json)
        if after:
            text += f"\nafter the release: {after.get('text') or ', '.join(after)}"
    return {"app": app.name, "out": str(out), "configs": summary, "after_release": after,
            "text": text + f"\nmanifest: {out / 'manifest.json'}"}


def cmd_bench(args, ctx: CliContext):
    from .runtime.bench import bench_app, format_table

    app = args.app_obj
    kwargs = {}
    if args.n is not None:
        kwargs["n"] = args.n
    if args.quick:
        kwargs["quick"] = True
    reports = {c: bench_app(app, ctx.settings, config=c, **kwargs) for c in _configs(app, args.config)}
    if ctx.json:
        return {"app": app.name, "configs": reports}
    return {"text": "\n\n".join(f"== {app.name} / {c} ==\n{format_table(r)}" for c, r in reports.items())}


def _one_file(args) -> Path:
    path = Path(args.file)
    if not path.exists():
        raise InvalidInputError(f"no such file: {path}")
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder; give one file")
    return path


def _given(args, app) -> dict:
    """The flags named like the app's options are the options (source "flag"); nothing else reaches read/predict."""
    return {k: getattr(args, k) for k in app.options_type.names() if getattr(args, k, None) is not None}


def cmd_baseline(args, ctx: CliContext):
    """The app's classical method on a file (no model), through the same analysis call as ``predict``."""
    from .analysis import analyse

    app, path = args.app_obj, _one_file(args)
    return analyse(app, path, filename=path.name, given=_given(args, app), source="flag", runner_for=None,
                   baseline=True).printable()


def cmd_predict(args, ctx: CliContext):
    app = args.app_obj
    path = _one_file(args)
    from .analysis import analyse
    from .dask_windows import scheduler  # --scheduler: one input's windows on Dask workers (no Dask import without)

    options = app.options_type.build(_given(args, app), source="flag")
    if args.out:  # asked explicitly: an app may stream the files there while it predicts (large inputs)
        options = dataclasses.replace(options, _outputs=str(args.out))
    with scheduler(getattr(args, "scheduler", None), getattr(args, "workers", None)):
        done = analyse(app, path, filename=path.name, options=options,
                       runner_for=lambda config: ctx.runner(app, config, variant=args.variant, models_dir=args.model,
                                                            device=not (args.variant or args.model)))
    if args.out:  # the explicit output step: never next to the input unless asked
        if len(done.results) != 1:
            raise InvalidInputError(f"--out writes the files of one result; {path.name} gave {len(done.results)}")
        written = app.write_outputs(done.results[0], Path(args.out))
        if isinstance(getattr(done.results[0], "outputs", None), dict):
            done.results[0].outputs.update(written)
    return done.printable()


def cmd_evaluate_real(args, ctx: CliContext):
    """Score the shipped (or named) model on real labelled data; ``--record`` stores it in the manifest."""
    import datetime as _dt

    from .config import realdata_root

    app = args.app_obj
    data_dir = Path(args.data_dir) if args.data_dir else realdata_root() / app.name
    if not data_dir.is_dir():
        raise InvalidInputError(f"no real data folder {data_dir}; give DIR or set EDGEINV_REALDATA")
    result = app.evaluate_real(data_dir, lambda config, variant=None: ctx.runner(app, config, variant=variant or args.variant,
                                                                                 models_dir=args.model),
                               progress=not ctx.json)  # variant=: an app may also score every shipped variant
    if result is None:
        raise InvalidInputError(f"{app.name} has no real-data evaluation")
    if args.record:
        if args.model or args.variant:
            raise InvalidInputError("--record stores figures of the shipped models only; drop --model/--variant")
        from .runtime.manifest import update_manifest

        folder = app.models_dir(ctx.settings)
        record = {k: v for k, v in result.items() if k != "text"}
        record.update(data_dir=str(data_dir.name if data_dir.parent == realdata_root() else data_dir),
                      measured=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                      command=f"edgeinv {app.name} evaluate-real")

        def change(manifest):
            manifest["real"] = record

        update_manifest(folder, change)
        result = {**result, "recorded_in": str(folder / "manifest.json")}
    return result
