"""The `edgeinv` command: one CLI generic over the registry of apps.

::

    edgeinv apps                                   list the installed apps, their models, this CPU
    edgeinv selftest [APP]                         every variant on its golden set on this CPU; store the choice
    edgeinv serve [--host H] [--port P]            serve every app's UI and API (waitress)
    edgeinv backup DEST                            consistent copy of the result store (SQLite online backup)
    edgeinv bundle APP --out F.tar.gz [--sign-key K] [--target T --python 3.11] [--encrypt-for DEV.pub.pem]
                                                   signed device archive (code wheel, models, unit)
    edgeinv keygen DIR [--device]                  Ed25519 key pair for signing releases (X25519 device key)
    edgeinv release publish BUNDLE --channel DIR --sign-key K   add a bundle to a signed OTA channel
    edgeinv update --channel URL|DIR [--prefix P]  update this device from a channel (A/B, rollback)
    edgeinv <app> simulate [--count K] --out PATH     write simulated example file(s)
    edgeinv <app> train    [--config C] --out DIR  train the FP32 teacher, export it to ONNX
    edgeinv <app> compress [--config C] [--out D]  full release: train, prune, distill, quantize,
                                                   search within the accuracy budget, manifest
    edgeinv <app> bench    [--config C] [--quick]  latency, size, memory, accuracy per variant + baseline
    edgeinv <app> predict FILE [--model DIR]       run the edge path on a file
    edgeinv <app> calibrate DATA --labels L --out DIR  fine-tune on the user's labelled real files
    edgeinv <app> serve                            serve that app only
    edgeinv <app> <extra>                          app-specific commands (App.add_cli)

Global options go before the command; ``--json`` is accepted anywhere and makes the command print
exactly one JSON document on stdout (progress bars and logs go to stderr). Errors print one line
``error: <reason>`` and exit non-zero; set ``EDGEINV_DEBUG=1`` to see the traceback of an
unexpected failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import app as app_registry
from .commands import (cmd_apps, cmd_backup, cmd_baseline, cmd_bench, cmd_bundle, cmd_calibrate, cmd_compress,
                       cmd_evaluate_real, cmd_golden, cmd_keygen, cmd_predict, cmd_release_publish, cmd_selftest,
                       cmd_serve, cmd_simulate, cmd_train, cmd_update)
from .config import Settings, load_settings
from .errors import EdgeinvError, InvalidInputError

EXIT_INTERNAL = 70


@dataclass
class CliContext:
    """What a command handler gets besides its arguments."""

    settings: Settings
    json: bool = False
    _runners: dict = field(default_factory=dict)

    def runner(self, app, config: str, variant: str | None = None, models_dir: str | Path | None = None,
               device: bool = False):
        """The ONNX runner for ``app``/``config`` (the manifest's chosen variant unless ``variant``).

        ``device=True`` (``predict`` without --variant/--model): the runner the web and gateways use,
        :func:`edgeinv.common.analysis.device_runner`, so a file gives the same numbers every way."""
        from .runtime.bundle import load_runner

        key = (app.name, config, variant, str(models_dir), device)
        if key not in self._runners:
            settings = self.settings
            if models_dir is not None:
                settings = settings.replace(models_dir=_models_root_for(app, Path(models_dir)))
            if device:
                from .analysis import device_runner

                self._runners[key] = device_runner(app, settings, config)
            else:
                self._runners[key] = load_runner(app, settings, config=config, variant=variant)
        return self._runners[key]


def _models_root_for(app, directory: Path) -> Path:
    """Accept either ``<root>`` (holding ``<pkg>/manifest.json``) or the app folder itself."""
    if (directory / app.package_name / "manifest.json").is_file():
        return directory
    if (directory / "manifest.json").is_file():
        # load_runner looks in <root>/<pkg>/; a fine-tuned model folder is its own <pkg> folder.
        if directory.name == app.package_name:
            return directory.parent
        raise InvalidInputError(
            f"--model {directory}: the folder must be named {app.package_name!r} or contain {app.package_name}/manifest.json"
        )
    raise InvalidInputError(f"--model {directory}: no manifest.json found there")


# ---- output -------------------------------------------------------------------------------------


def _jsonable(obj):
    from .jsonutil import jsonable

    return jsonable(obj)


def _human(obj) -> str:
    if hasattr(obj, "summary"):
        return obj.summary()
    if isinstance(obj, list):
        return "\n\n".join(_human(o) for o in obj)
    if isinstance(obj, dict):
        if "text" in obj and isinstance(obj["text"], str):
            return obj["text"]
        return json.dumps(_jsonable(obj), indent=2)
    return str(obj)


def emit(result, as_json: bool) -> None:
    if result is None:
        return
    if as_json:
        sys.stdout.write(json.dumps(_jsonable(result), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(_human(result).rstrip("\n") + "\n")


# ---- parser -------------------------------------------------------------------------------------

_GLOBAL_DESTS = {"config_file", "models_dir", "data_dir", "threads", "host", "port"}


def _json_flag(parser):
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print exactly one JSON document on stdout")


def build_parser(only_app: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI; with ``only_app`` (the app a command line names) only that app's commands are built, so
    ``edgeinv veg-cover serve`` imports veg-cover and not the other apps (see :func:`app_registry.app_names`)."""
    p = argparse.ArgumentParser(prog="edgeinv", description="Inversion models at the edge.")
    p.add_argument("--config-file", dest="config_file", help="TOML settings file (or EDGEINV_CONFIG)")
    p.add_argument("--models-dir", help="released models root (default: the repo's models/)")
    p.add_argument("--data-dir", help="result store and uploads (default: ~/.local/share/edgeinv)")
    p.add_argument("--threads", type=int, help="ONNX Runtime threads (default 1)")
    p.add_argument("--json", action="store_true", default=False, help="one JSON document on stdout")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sp = sub.add_parser("apps", help="list installed apps and their models")
    _json_flag(sp)
    sp.set_defaults(func=cmd_apps)

    sp = sub.add_parser("serve", help="serve all apps (production WSGI server)")
    _serve_args(sp)
    sp.set_defaults(func=cmd_serve)
    sp = sub.add_parser("backup", help="copy the result store while the server runs (SQLite online backup)")
    sp.add_argument("dest", help="backup file, or a folder for a time-stamped file")
    sp.set_defaults(func=cmd_backup)

    sp = sub.add_parser("selftest", help="run every shipped variant on its golden set on this CPU; store the choice")
    sp.add_argument("selftest_app", metavar="APP", nargs="?", choices=app_registry.app_names())
    sp.add_argument("--repeats", type=int, default=20, help="timed batch-1 runs per variant (default 20)")
    _json_flag(sp)
    sp.set_defaults(func=cmd_selftest)

    sp = sub.add_parser("bundle", help="one archive for a device: code, an app's models, unit, installer")
    sp.add_argument("bundle_app", metavar="APP", choices=app_registry.app_names())
    sp.add_argument("--out", required=True, help="archive to write (.tar.gz)")
    sp.add_argument("--sign-key", help="Ed25519 private key (PEM) that signs the whole bundle")
    sp.add_argument("--target", choices=["linux-x86_64", "linux-aarch64"],
                    help="include the wheels of every edge dependency for this platform (offline install)")
    sp.add_argument("--python", default="3.11", help="the device's Python for --target (default 3.11)")
    sp.add_argument("--encrypt-for", help="device X25519 public key (keygen --device): models encrypted at rest")
    sp.add_argument("--version", dest="release_version", help="release version (dot-separated integers)")
    sp.add_argument("--models-only", action="store_true", help="models without code: a smaller update")
    sp.add_argument("--min-version", help="devices must run this version or newer before installing this one")
    _json_flag(sp)
    sp.set_defaults(func=cmd_bundle)

    sp = sub.add_parser("keygen", help="a new Ed25519 key pair for signing releases")
    sp.add_argument("dir", help="folder for signing.pem and signing.pub.pem")
    sp.add_argument("--device", action="store_true", help="an X25519 device key pair (device.key, device.pub.pem)")
    _json_flag(sp)
    sp.set_defaults(func=cmd_keygen)

    sp = sub.add_parser("release", help="publish bundles to an OTA channel")
    rsub = sp.add_subparsers(dest="release_command", metavar="ACTION", required=True)
    rp = rsub.add_parser("publish", help="add a signed bundle to a channel folder and re-sign its index")
    rp.add_argument("bundle")
    rp.add_argument("--channel", required=True, help="channel folder (serve it with any static HTTP server)")
    rp.add_argument("--sign-key", required=True, help="the Ed25519 private key the bundle was signed with")
    _json_flag(rp)
    rp.set_defaults(func=cmd_release_publish)

    sp = sub.add_parser("update", help="update this device from an OTA channel (A/B slots, rollback)")
    sp.add_argument("--channel", required=True, help="channel URL (http/https/file) or folder")
    sp.add_argument("--prefix", help="device prefix (default $EDGEINV_PREFIX or /opt/edgeinv)")
    sp.add_argument("--app", dest="update_app", help="update this app only (default: every installed app)")
    sp.add_argument("--version", dest="release_version", help="install this version (default: the newest)")
    sp.add_argument("--allow-downgrade", action="store_true")
    sp.add_argument("--allow-unsigned", action="store_true")
    sp.add_argument("--wait", type=float, default=300, help="seconds to wait for the new slot to be committed")
    _json_flag(sp)
    sp.set_defaults(func=cmd_update)

    from .ingest.cli import add_batch_command, add_ingest_command  # ingest mqtt, <app> batch (edgeinv.common.ingest)

    add_ingest_command(sub)

    apps = {only_app: app_registry.get_app(only_app)} if only_app else app_registry.all_apps()
    for name, app in apps.items():
        ap = sub.add_parser(name, help=app.title)
        asub = ap.add_subparsers(dest="app_command", metavar="ACTION", required=True)
        ap.set_defaults(app_obj=app)
        configs = ["all", *app.configs]

        s = asub.add_parser("simulate", help="write simulated example file(s)")
        s.add_argument("--count", type=int, default=1, help="number of files (default 1)")
        s.add_argument("--out", required=True, help="output file")
        s.add_argument("--seed", type=int, default=0)
        app.simulate_arguments(_Prefixed(s.add_argument_group("simulation parameters"), "sim_"))
        s.set_defaults(func=cmd_simulate)

        for action, func, help_ in (("train", cmd_train, "train the FP32 teacher and export it"),
                                    ("compress", cmd_compress, "full release into models/ (train+compress+search)")):
            s = asub.add_parser(action, help=help_)
            s.add_argument("--config", choices=configs, default="all")
            s.add_argument("--out", required=(action == "train"), help="output folder")
            s.add_argument("--epochs", type=int)
            s.add_argument("--n-train", dest="n_train", type=int)
            s.add_argument("--seed", type=int)
            s.add_argument("--quick", action="store_true", help="tiny recipe, for trying things out")
            s.set_defaults(func=func)

        s = asub.add_parser("calibrate", help="fine-tune the shipped model on your labelled real files")
        s.add_argument("data", metavar="DATA", help="file or folder of labelled inputs")
        s.add_argument("--labels", required=True, help="labels table naming the inputs (see the app's docs)")
        s.add_argument("--out", required=True, help="folder for the calibrated release (use with --model)")
        s.add_argument("--config", choices=configs, help="model config (default: from the data)")
        s.add_argument("--epochs", type=int)
        s.add_argument("--lr", type=float)
        s.add_argument("--n-sim", dest="n_sim", type=int, help="simulated samples mixed in against forgetting")
        s.add_argument("--seed", type=int)
        s.add_argument("--holdout-fraction", dest="holdout_fraction", type=float,
                       help="labelled samples kept out to report before/after (default 0.25)")
        s.add_argument("--holdout-group", dest="holdout_group", help="hold out one whole group (site, species...)")
        s.add_argument("--shrink", dest="shrink", action=argparse.BooleanOptionalAction, default=None,
                       help="let the validation labels choose how far to move from the shipped model "
                            "(default: the app's choice; veg-cover: on)")
        s.set_defaults(func=cmd_calibrate)

        s = asub.add_parser("golden", help="add golden sets for the self-test to the shipped models (no retraining)")
        s.add_argument("--config", choices=configs, default="all")
        s.add_argument("--out", help="models folder of the app (default: the shipped one)")
        s.set_defaults(func=cmd_golden)

        s = asub.add_parser("bench", help="latency, size, memory and accuracy per variant and baseline")
        s.add_argument("--config", choices=configs, default="all")
        s.add_argument("--n", type=int, help="held-out samples for accuracy")
        s.add_argument("--quick", action="store_true", help="fewer samples and repeats")
        s.set_defaults(func=cmd_bench)

        s = asub.add_parser("predict", help="run the edge path on a file")
        s.add_argument("file")
        s.add_argument("--model", help="model folder (e.g. a fine-tuned one) instead of the shipped models")
        s.add_argument("--variant", help="variant name from the manifest (default: the chosen one)")
        s.add_argument("--out", help="write the result's output files there (an app that has them: veg-cover's "
                                     "cover GeoTIFF and overlay PNG); nothing is written without it")
        app.predict_arguments(s)
        if app.splits_windows:
            s.add_argument("--scheduler", metavar="S", help="split the input's windows across Dask workers: "
                           "local (a LocalCluster) or tcp://HOST:PORT (needs the 'scale' extra); same output")
            s.add_argument("--workers", type=int, help="with --scheduler local: worker processes (default 2)")
        s.set_defaults(func=cmd_predict)

        s = asub.add_parser("baseline", help="the classical method on a file (no model), for comparison")
        s.add_argument("file")
        app.predict_arguments(s)
        s.set_defaults(func=cmd_baseline)

        s = asub.add_parser("evaluate-real", help="score the model on real labelled data (../shared/realdata)")
        s.add_argument("data_dir", nargs="?", metavar="DIR", help=f"default: $EDGEINV_REALDATA/{name}")
        s.add_argument("--model", help="model folder instead of the shipped models")
        s.add_argument("--variant", help="variant name from the manifest (default: the chosen one)")
        s.add_argument("--record", action="store_true", help="store the figures in the manifest's 'real' section")
        s.set_defaults(func=cmd_evaluate_real)

        s = asub.add_parser("serve", help=f"serve the {name} UI only")
        _serve_args(s)
        s.set_defaults(func=cmd_serve)

        add_batch_command(asub, app)
        if any(t.per_pixel for t in app.targets):  # large-image bench: throughput, tile-bounded memory, Dask splits
            from .runtime.largebench import add_command as add_large_bench

            add_large_bench(asub, app)

        app.add_cli(asub)
        for action_parser in asub.choices.values():
            _json_flag(action_parser)
    return p


class _Prefixed:
    """Lets an app declare simulate flags without clashing with the CLI's own dests."""

    def __init__(self, group, prefix):
        self._group, self._prefix = group, prefix

    def add_argument(self, *flags, **kwargs):
        dest = kwargs.pop("dest", None) or flags[0].lstrip("-").replace("-", "_")
        return self._group.add_argument(*flags, dest=self._prefix + dest, **kwargs)


def _serve_args(sp):
    sp.add_argument("--host", help="bind address (default 127.0.0.1; anything else requires login)")
    sp.add_argument("--port", type=int, help="port (default 8080)")


_GLOBAL_VALUE_FLAGS = ("--config-file", "--models-dir", "--data-dir", "--threads")


def _named_app(argv: list[str]) -> str | None:
    """The app a command line runs (``edgeinv [GLOBAL OPTIONS] APP ACTION ...``), None for the core's commands."""
    it = iter(argv)
    for tok in it:
        if tok in _GLOBAL_VALUE_FLAGS:
            next(it, None)
        elif not tok.startswith("-"):
            return tok if tok in app_registry.app_names() else None
    return None


def main(argv: list[str] | None = None) -> int:
    import warnings

    with warnings.catch_warnings():
        if not os.environ.get("EDGEINV_DEBUG"):  # numeric warnings are not for the user: one error line at most
            warnings.simplefilter("ignore", RuntimeWarning)
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    as_json = "--json" in argv
    try:
        parser = build_parser(_named_app(argv))
        args = parser.parse_args(argv)
        as_json = bool(getattr(args, "json", False))
        settings = load_settings(args.config_file, models_dir=args.models_dir, data_dir=args.data_dir,
                                 threads=args.threads, host=getattr(args, "host", None),
                                 port=getattr(args, "port", None))
        ctx = CliContext(settings=settings, json=as_json)
        result = args.func(args, ctx)
        emit(result, as_json)
        return 0
    except EdgeinvError as exc:
        _fail(str(exc), exc.exit_code, exc.to_dict(), as_json)
        return exc.exit_code
    except KeyboardInterrupt:
        _fail("interrupted", 130, {"error": "Interrupted", "message": "interrupted", "status": 499}, as_json)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # unreadable file, full disk, ...: the user's environment, not a bug
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        msg = f"cannot access{where}: {exc.strerror or exc}"
        _fail(msg, InvalidInputError.exit_code, {"error": "OSError", "message": msg, "status": 400}, as_json)
        return InvalidInputError.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback by default
        if os.environ.get("EDGEINV_DEBUG"):
            raise
        msg = f"internal error ({type(exc).__name__}: {exc}); rerun with EDGEINV_DEBUG=1 for details"
        _fail(msg, EXIT_INTERNAL, {"error": "InternalError", "message": msg, "status": 500}, as_json)
        return EXIT_INTERNAL


def _fail(message: str, code: int, doc: dict, as_json: bool) -> None:
    print(f"error: {message}", file=sys.stderr)
    if as_json:
        sys.stdout.write(json.dumps(doc) + "\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
