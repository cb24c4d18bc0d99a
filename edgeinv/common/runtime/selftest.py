"""Golden sets and the on-device self-test: is each shipped variant right *on this CPU*, and which one to use.

Edge side (numpy + ONNX Runtime, no torch).

A **golden set** travels with every config's models (``models/<pkg>/<config>/golden.npz``, its sha256 in
the manifest): a few fixed preprocessed held-out inputs ``x`` and the FP32 teacher's outputs on them. The
manifest's ``golden`` record also holds, per variant, its *reference deviation*: how far the variant is
from the teacher when its graph is evaluated node by node without ONNX Runtime's fused kernels (QDQ in
float) — what the variant means, on any CPU.

``run_selftest`` runs every variant on the golden inputs here, measures its deviation from the golden
outputs in each target's unit (RMS difference; classification: points of samples whose class changes)
and accepts it when::

    deviation_here <= validated + allowed     validated = max(reference deviation, deviation on the build CPU)
                                              allowed   = the app's compression budget (fraction of the
                                                          range / accuracy points, at least one golden
                                                          sample's class)

so a kernel that saturates, a corrupted scale or a broken file is caught while a variant that was
validated as-is passes. It then times the accepted variants at batch 1 (interleaved, the device's real
input size) and picks the fastest one that also met the accuracy budget at build time (the manifest's
search) and is not worse on real recordings than the build's choice (the manifest's ``real.variants``
totals, :func:`worse_on_real`) as ``chosen`` — the build's choice is kept unless another is more than 15 %
faster here — and
the manifest's accurate variant (else the most faithful accepted one; the chosen one when the accurate one
is worse on real recordings) as ``accurate``. The result is stored in
device-local state (``<data_dir>/device/selftest.json``, never in the shipped manifest), keyed by the CPU
fingerprint and the manifest's sha256: :func:`device_choice` serves it back to ``serve``, ``predict`` and
the accurate/light switch, and ignores it when the CPU or the models changed.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from ..errors import EdgeinvError, ModelError, ModelIntegrityError
from .manifest import MANIFEST_NAME, load_manifest, sha256_file
from .cpu import cpu_features, fingerprint

__all__ = ["GOLDEN_NAME", "golden_count", "deviations", "write_golden", "run_selftest", "worse_on_real", "device_state_path",
           "load_device_state", "save_device_state", "device_choice", "device_report", "variant_cpu_classes", "selftest_apps"]

log = logging.getLogger("edgeinv.selftest")
GOLDEN_NAME = "golden.npz"
GOLDEN_MAX_BYTES = 600_000
STATE_NAME = "selftest.json"
SWITCH_MARGIN = 1.15  # another variant replaces the build's choice only when > 15 % faster on this device


# ---- golden sets (written at build time) ------------------------------------------------------------


def golden_count(x: np.ndarray, *, max_n: int = 128, min_n: int = 8, max_bytes: int = GOLDEN_MAX_BYTES) -> int:
    """How many held-out inputs go into a golden set: up to ``max_n``, within ``max_bytes`` of float32."""
    per = int(np.prod(x.shape[1:])) * 4
    return int(max(min_n, min(max_n, len(x), max_bytes // max(per, 1))))


def deviations(app, a: dict, b: dict) -> dict[str, float]:
    """Per target, how far outputs ``a`` are from ``b``: RMS difference in the target's unit; for a
    classification target the percentage of samples whose most likely class differs."""
    out = {}
    for t in app.targets:
        if t.name not in a or t.name not in b:
            continue
        pa, pb = np.asarray(a[t.name], dtype=np.float64), np.asarray(b[t.name], dtype=np.float64)
        if not np.all(np.isfinite(pa)):
            out[t.name] = float("inf")
        elif t.is_classification:
            out[t.name] = float(100.0 * np.mean(np.argmax(pa, 1) != np.argmax(pb, 1)))
        else:
            out[t.name] = float(np.sqrt(np.mean((pa - pb) ** 2)))
    return out


def write_golden(app, config: str, folder: str | Path, x: np.ndarray, teacher_path: str | Path,
                 variant_paths: dict[str, Path], *, description: str = "") -> dict:
    """Write ``folder/golden.npz`` (inputs + teacher outputs); return the manifest's ``golden`` record."""
    from .session import OnnxModel

    folder = Path(folder)
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32)[: golden_count(np.asarray(x))])
    teacher = OnnxModel(teacher_path)
    y = teacher(x)
    path = folder / GOLDEN_NAME
    tmp = folder / f".{GOLDEN_NAME}.tmp.npz"
    np.savez_compressed(tmp, x=x, **{f"out__{k}": np.asarray(v, dtype=np.float32) for k, v in y.items()})
    os.replace(tmp, path)
    reference, build = {}, {}
    for name, vpath in variant_paths.items():
        reference[name] = deviations(app, OnnxModel(vpath, optimize=False)(x), y)
        build[name] = deviations(app, OnnxModel(vpath)(x), y)
    return {"file": f"{config}/{GOLDEN_NAME}", "sha256": sha256_file(path), "n": int(len(x)),
            "teacher": Path(teacher_path).stem, "units": {t.name: ("%" if t.is_classification else t.unit)
                                                          for t in app.targets},
            "description": description or f"{len(x)} preprocessed held-out inputs and the FP32 teacher's outputs",
            "reference_deviation": reference, "build_deviation": build,
            "build_cpu": {k: cpu_features()[k] for k in ("arch", "model", "cpu_class")}}


# ---- which CPUs a variant is meant for --------------------------------------------------------------


def variant_cpu_classes(record: dict) -> list[str] | None:
    """The CPU classes a manifest variant is meant for (None: not recorded, any CPU for float variants)."""
    if "cpu_classes" in record:
        return list(record["cpu_classes"])
    fmt = str(record.get("format", ""))
    if "int8" in fmt:  # releases before the any-CPU defaults: full 8-bit U8S8, exact on VNNI/ARM only
        return ["x86-64-vnni", "arm64-dotprod", "arm64-neon"]
    return None


# ---- the self-test ----------------------------------------------------------------------------------


def _budget(app, entry: dict, config: str):
    from ..app import Budget

    raw = (entry.get("recipe") or {}).get("budget")
    if isinstance(raw, dict):
        try:
            return Budget(regression_frac_range=float(raw.get("regression_frac_range", 0.01)),
                          classification_points=float(raw.get("classification_points", 1.0)),
                          per_target={str(k): float(v) for k, v in (raw.get("per_target") or {}).items()})
        except (TypeError, ValueError):
            pass
    return app.recipe(config).budget


def _allowed(app, budget, n: int) -> dict[str, float]:
    """The budget in each target's unit; a classification target may also differ on one golden sample."""
    return {t.name: (max(budget.allowed(t), 100.0 / max(n, 1)) if t.is_classification else budget.allowed(t) * t.range)
            for t in app.targets}


def _load_golden(folder: Path, record: dict) -> tuple[np.ndarray, dict]:
    rel = record.get("file")
    if not rel or "sha256" not in record:
        raise ModelIntegrityError("the manifest's golden record lacks file or sha256")
    path = (folder / rel).resolve()
    if folder.resolve() not in path.parents or not path.is_file():
        raise ModelIntegrityError(f"golden set {rel} is missing")
    if sha256_file(path) != record["sha256"]:
        raise ModelIntegrityError(f"golden set {rel}: sha256 does not match the manifest")
    with np.load(path, allow_pickle=False) as data:
        x = np.asarray(data["x"], dtype=np.float32)
        y = {k[len("out__"):]: np.asarray(data[k]) for k in data.files if k.startswith("out__")}
    return x, y


def _time(models: dict, x1: np.ndarray, repeats: int) -> dict[str, float]:
    """Median batch-1 latency (ms) per model, interleaved so that all see the same machine load."""
    for m in models.values():
        for _ in range(3):
            m(x1)
    times: dict[str, list[float]] = {n: [] for n in models}
    for _ in range(max(1, repeats)):
        for n, m in models.items():
            t0 = time.perf_counter()
            m(x1)
            times[n].append((time.perf_counter() - t0) * 1e3)
    return {n: float(np.median(v)) for n, v in times.items()}


def worse_on_real(real, config: str, chosen: str | None) -> dict[str, str]:
    """Variants whose real-data figures (the manifest's ``real.variants.<name>.totals``: counts, higher is better,
    written by ``evaluate-real --record``) fall below the manifest's chosen variant's in any count -> why."""
    per = (real or {}).get("variants") or {}
    if (real or {}).get("config", config) != config or chosen not in per:
        return {}
    ref = per[chosen].get("totals") or {}
    out = {}
    for name, rec in per.items():
        tot = (rec or {}).get("totals") or {}
        below = [f"{k} {tot[k]} < {v}" for k, v in ref.items() if k in tot and tot[k] < v]
        if below:
            out[name] = f"worse on real recordings than the chosen {chosen}: {', '.join(below)}"
    return out


def _config_selftest(app, folder: Path, config: str, entry: dict, threads: int, repeats: int, real=None) -> dict:
    from .session import OnnxModel

    feats = cpu_features()
    variants = entry.get("variants", {})
    build_ok = {n: bool(r.get("within_budget")) for n, r in (entry.get("search", {}).get("variants") or {}).items()}
    manifest_accurate = entry.get("accurate") or entry.get("chosen")
    rows: dict[str, dict] = {}
    golden = entry.get("golden")
    report = {"manifest_chosen": entry.get("chosen"), "manifest_accurate": manifest_accurate, "variants": rows}
    if not golden:
        report.update(golden=False, note="no golden set shipped for this config: the manifest's choice is used "
                                         "where the variant is meant for this CPU class")
        choice = _fallback_choice(entry, feats["cpu_class"])
        if choice[1] in worse_on_real(real, config, entry.get("chosen")):  # the accurate one too (see below)
            choice = (choice[0], choice[0])
        report.update(chosen=choice[0], accurate=choice[1], ok=choice[0] is not None)
        return report
    x, y = _load_golden(folder, golden)
    allowed = _allowed(app, _budget(app, entry, config), len(x))
    reference = golden.get("reference_deviation", {})
    models = {}
    for name, rec in variants.items():
        classes = variant_cpu_classes(rec)
        row = {"format": rec.get("format"), "cpu_classes": classes,
               "meant_for_this_cpu": classes is None or feats["cpu_class"] in classes,
               "build_within_budget": build_ok.get(name, name == manifest_accurate), "reasons": []}
        rows[name] = row
        try:
            path = (folder / rec["file"]).resolve()
            if folder.resolve() not in path.parents or not path.is_file():
                raise ModelIntegrityError(f"{rec['file']} is missing")
            if sha256_file(path) != rec.get("sha256"):
                raise ModelIntegrityError(f"{rec['file']}: sha256 does not match the manifest")
            model = OnnxModel(path, threads=threads)
            dev = deviations(app, model(x), y)
        except (EdgeinvError, KeyError, OSError) as exc:
            row.update(within_budget=False, deviation=None)
            row["reasons"].append(f"cannot run: {exc}")
            continue
        ref = reference.get(name, {})
        built = (golden.get("build_deviation") or {}).get(name, {})
        row.update(deviation=dev, reference_deviation=ref, allowed=allowed)
        bad = []
        for t, d in dev.items():
            validated = max(float(ref.get(t, 0.0) or 0.0), float(built.get(t, 0.0) or 0.0))
            limit = validated + allowed.get(t, 0.0)
            if not d <= limit:  # also catches inf/NaN
                unit = "points" if app.target(t).is_classification else app.target(t).unit
                bad.append(f"{t} deviates {d:.4g} {unit} from the golden outputs (allowed {limit:.4g})")
        row["within_budget"] = not bad
        row["reasons"].extend(bad)
        if not bad:
            models[name] = model
    if models:
        x1 = app.latency_input(x)
        lat = _time(models, x1, repeats)
        for n, ms in lat.items():
            rows[n]["latency_ms"] = round(ms, 4)
    worse = worse_on_real(real, config, entry.get("chosen"))  # never switch to a variant worse on real data
    for n, why in worse.items():
        if n in rows:
            rows[n]["real_data"] = why
    usable = [n for n in models if rows[n]["build_within_budget"] and n not in worse]
    chosen = min(usable, key=lambda n: rows[n]["latency_ms"]) if usable else None
    keep = entry.get("chosen")
    if chosen is not None and keep in usable and rows[keep]["latency_ms"] <= SWITCH_MARGIN * rows[chosen]["latency_ms"]:
        chosen = keep  # the build's choice unless another variant is clearly faster here (no flapping on noise)
    if manifest_accurate in models:
        accurate = manifest_accurate
    else:  # the most faithful variant that works here
        accurate = min(models, key=lambda n: sum(rows[n]["deviation"][t] / max(allowed.get(t, 1.0), 1e-12)
                                                   for t in rows[n]["deviation"])) if models else None
    if chosen is None:
        chosen = accurate
    if accurate in worse and chosen is not None:  # served when idle: not a variant worse on real data either
        rows[accurate]["real_data"] += f"; not served as the accurate variant (here: {chosen})"
        accurate = chosen
    report.update(golden=True, n_golden=int(len(x)), chosen=chosen, accurate=accurate, ok=chosen is not None,
                  rejected={n: r["reasons"][0] for n, r in rows.items() if not r.get("within_budget")})
    return report


def _fallback_choice(entry: dict, cls: str) -> tuple[str | None, str | None]:
    variants = entry.get("variants", {})
    chosen, accurate = entry.get("chosen"), entry.get("accurate") or entry.get("chosen")
    if chosen in variants:
        classes = variant_cpu_classes(variants[chosen])
        if classes is not None and cls not in classes:
            chosen = accurate
    return chosen, accurate


def run_selftest(app, settings, *, repeats: int = 20) -> dict:
    """Self-test of every shipped config of ``app`` on this CPU (see the module docstring)."""
    folder = app.models_dir(settings)
    manifest = load_manifest(folder)
    configs = {}
    have, want = str(manifest.preprocessing_version or app.preprocessing_version), str(app.preprocessing_version)
    for config, typed in manifest.configs.items():
        entry = typed.raw
        if config not in app.configs:
            continue
        if have != want:  # the inputs the models expect are not what this code computes: nothing is usable
            configs[config] = {"ok": False, "chosen": None, "accurate": None, "variants": {},
                               "error": f"models were built for preprocessing v{have}, this code computes v{want} "
                                        f"(rebuild the models or install the matching code)"}
            continue
        try:
            configs[config] = _config_selftest(app, folder, config, entry, int(getattr(settings, "threads", 1)),
                                               repeats, real=manifest.real)
        except EdgeinvError as exc:
            configs[config] = {"ok": False, "chosen": None, "accurate": None, "error": str(exc), "variants": {}}
    return {"app": app.name, "models_dir": str(folder), "manifest_sha256": sha256_file(folder / MANIFEST_NAME),
            "cpu": cpu_features(), "fingerprint": fingerprint(),
            "ran_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "ok": bool(configs) and all(c.get("ok") for c in configs.values()), "configs": configs}


# ---- device-local state -----------------------------------------------------------------------------


def device_state_path(settings) -> Path:
    return Path(settings.data_dir) / "device" / STATE_NAME


def load_device_state(settings) -> dict:
    path = device_state_path(settings)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def save_device_state(settings, reports: list[dict]) -> Path:
    """Merge self-test reports into the device state (atomic write); other apps' entries are kept."""
    from .manifest import clean_json

    path = device_state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = load_device_state(settings)
    if state.get("fingerprint") != fingerprint():
        state = {}
    state.update(fingerprint=fingerprint(), cpu=cpu_features())
    apps = state.setdefault("apps", {})
    for r in reports:
        apps[r["app"]] = r
    tmp = path.with_name(f".{STATE_NAME}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(clean_json(state), indent=1) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def device_report(app, settings) -> dict | None:
    """The stored self-test of ``app`` if it ran on this CPU for the models now installed, else None."""
    report = load_device_state(settings).get("apps", {}).get(app.name)
    if not report or report.get("fingerprint") != fingerprint():
        return None
    folder = app.models_dir(settings)
    if report.get("models_dir") != str(folder):
        return None
    try:
        if report.get("manifest_sha256") != sha256_file(folder / MANIFEST_NAME):
            return None
    except OSError:
        return None
    return report


def device_choice(app, settings, config: str) -> dict:
    """``{"chosen", "accurate", "source"}`` for ``app``/``config`` on this device.

    The self-test's choice when it ran on this CPU for these models; otherwise the manifest's, with an
    INT8 variant not meant for this CPU class replaced by the accurate one, and an accurate variant worse on
    real data than the chosen one (:func:`worse_on_real`) replaced by the chosen one. Raises ModelError when the
    self-test found no variant that works here.
    """
    report = device_report(app, settings)
    if report is not None and config in report.get("configs", {}):
        c = report["configs"][config]
        if not c.get("chosen"):
            raise ModelError(f"{app.name}/{config}: no shipped variant passed the self-test on this CPU "
                             f"({report['cpu'].get('cpu_class')})", hint="run `edgeinv selftest` for details")
        return {"chosen": c["chosen"], "accurate": c.get("accurate") or c["chosen"],
                "source": f"self-test on this device ({report.get('ran_at')})"}
    manifest = load_manifest(app.models_dir(settings))
    entry = manifest.configs[config].raw if config in manifest.configs else {}
    chosen, accurate = _fallback_choice(entry, cpu_features()["cpu_class"])
    if accurate in worse_on_real(manifest.real, config, entry.get("chosen")):  # as the self-test decides
        accurate = chosen
    return {"chosen": chosen, "accurate": accurate, "source": "manifest (no self-test on this device yet)"}


def selftest_apps(apps, settings, *, repeats: int = 20, logger: logging.Logger | None = None) -> list[dict]:
    """Run and store the self-test of several apps; one log line per rejected variant (for ``serve``)."""
    logger = logger or log
    reports = []
    for app in apps:
        try:
            report = run_selftest(app, settings, repeats=repeats)
        except EdgeinvError as exc:
            logger.warning("selftest %s: %s", app.name, exc)
            continue
        reports.append(report)
        for config, c in report["configs"].items():
            for name, why in (c.get("rejected") or {}).items():
                logger.warning("selftest %s/%s: %s not used on this CPU (%s): %s", app.name, config, name,
                               report["cpu"]["cpu_class"], why)
            if c.get("error"):
                logger.error("selftest %s/%s: %s", app.name, config, c["error"])
            elif c.get("chosen"):
                logger.info("selftest %s/%s: using %s (accurate: %s)", app.name, config, c["chosen"], c["accurate"])
    if reports:
        save_device_state(settings, reports)
    return reports
