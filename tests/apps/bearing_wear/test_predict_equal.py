"""The whole ``predict`` of bearing-wear pinned bit for bit (issue 13, stops 25-28: the speed work changes no output
beyond a stated tolerance).

The reference (``data/predict_equal.json``) was recorded by the code at 0f3c6a7 (preprocessing version 6, before the
stop-25 speed work) with ``python tests/apps/bearing_wear/test_predict_equal.py --record``. For each recording it
holds the shipped student's outputs on that code's model input, and this test replays them (a runner that returns
the recorded outputs), so it pins everything the edge code computes and nothing of ONNX Runtime (whose kernels
may differ between CPUs). Arrays are compared by the SHA-256 of their bytes (dtype and shape included), every other
number by its exact double (JSON keeps ``repr``, which round-trips).

Three pins:

- **Exactly today's, given today's speed** (no tolerance): with the 1x speed check replaced by the speed it refined at
  0f3c6a7 (replayed like the model outputs), every window's analysis (model input, bands, spectra, orders,
  indicators, velocity, ring-down, checks), the model input of the batch, the recording's checks (evidence, OOD, speed
  check, acf, resolvability), the envelope plot and every field of the :class:`BearingResult` with its unrounded
  probabilities are the same bits as at 0f3c6a7.
- **The speed check within a stated tolerance of today's** (stop 28: ``orders.zoom_dft`` now serves every length,
  where long recordings at low rates took the zero-padded FFT, and the refined speed is rounded to 10 significant
  digits): the same source ("1x line" / "as given") and the refined speed within 6e-10 of 0f3c6a7's, relative (the
  rounding: <= 5e-10); and then the whole ``predict`` with the new speed check against the one with 0f3c6a7's speed:
  every label, flag, count and text the same, every number and array within ``RTOL`` = 1e-6 of the array's or
  number's own scale (measured: at most 4.5e-7, in the order spectra, whose sharp lines move with the speed).
- **The same bits on every CPU** (``data/predict_equal_cpu.json``, recorded by this code with ``--record-cpu``): the
  SHA-256 of the whole canonical output with the new speed check; ``make test`` repeats it under
  ``scripts/as_cpu.py avx2`` and ``sse42`` (``tests/common/test_as_cpu.py``). The zoom DFT's bins differ between
  those CPUs in their last bits (BLAS, FMA); the rounded speed does not, nor does anything after it.

Cases: the pinned decision cases (:mod:`test_decision_pinned`: five synthetic windows at the bench's points, a
clipped copy, a tone, white noise, a speed typed 1.4x, a speed typed 1.5 % high without a 1x line, two windows of
a HIT-SM and an MFPT file), 18 simulated recordings (random faults, rates 12-51.2 kHz, 1-3 windows, one in m/s2,
one with a machine class), and three whole real files when ``../shared/realdata/bearing-wear`` is present.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeinv.apps.bearing_wear import features as F
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.apps.bearing_wear.io import Recording

REF = Path(__file__).parent / "data" / "predict_equal.json"
REF_CPU = Path(__file__).parent / "data" / "predict_equal_cpu.json"
RTOL = 1e-6  # of an array's (or number's) own scale: the whole predict with the new speed check against today's
_spec = importlib.util.spec_from_file_location("_bw_pinned_decision", Path(__file__).parent / "test_decision_pinned.py")
_pd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_pd)
REAL = _pd.REAL
REAL_WHOLE = {  # name: (path under REAL, read options): whole files (many windows, the speed refined)
    "mfpt_inner_1": ("mfpt/InnerRaceFault_vload_1.mat", {}),
    "hitsm_normal_900": ("hit_sm/mfs/Normal_900.mat", {"rpm": 900.0, "fs_hz": 51200.0, "bearing": "6205"}),
    "selfbuilt_IR5_900": ("hit_sm/selfbuilt/IR5_900.mat", {"rpm": 900.0, "fs_hz": 51200.0, "bearing": "6205"}),
}
N_SIM = 18


def _digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return f"{a.dtype.str}{list(a.shape)}:" + hashlib.sha256(a.tobytes()).hexdigest()[:32]


def canon(v):
    """A JSON-able form of ``v`` that two runs share only if every number is the same double and every array the
    same bytes."""
    if isinstance(v, np.ndarray):
        return {"sha": _digest(v)}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {"<" + type(v).__name__ + ">": {f.name: canon(getattr(v, f.name)) for f in dataclasses.fields(v)}}
    if isinstance(v, dict):
        return {str(k): canon(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        if len(v) > 16 and all(type(x) is float for x in v):  # plot data (order axis, amplitudes): by digest
            return {"sha": _digest(np.array(v, dtype=np.float64))}
        return [canon(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))  # as text: NaN and inf too, and no JSON float parsing in between
    if v is None or isinstance(v, str):
        return v
    raise TypeError(f"no canonical form for {type(v)}")


def _simulated() -> dict[str, Recording]:
    from edgeinv.apps.bearing_wear import features as F
    from edgeinv.apps.bearing_wear.simulate import draw_conditions, simulate_vibration

    rng = np.random.default_rng(25)
    out = {}
    faults = ("outer_race", "inner_race", "ball", "cage", "none")
    for i in range(N_SIM):
        c = draw_conditions(rng=rng, fault=faults[i % len(faults)],
                            fs_hz=(12000.0, 25600.0, 48000.0, 51200.0, None)[i % 5])
        n = F.window_length(fs_hz=c.fs_hz, rpm=c.reported_rpm)
        windows = 1 + i % 3
        x = simulate_vibration(conditions=c, duration_s=(windows * n + i * 37) / c.fs_hz, rng=rng)
        meta = {"machine_class": "iso10816-1:class-II"} if i == 7 else {}
        if i == 11:  # the same recording in m/s2
            x = x * 9.80665
        out[f"sim{i:02d}_{c.fault}_{c.fs_hz:g}_{c.reported_rpm:.0f}_{windows}w"] = Recording(
            np.asarray(x, dtype=np.float32), c.fs_hz, c.reported_rpm, c.geometry, source=f"sim{i}", channel="sim",
            meta=meta)
    return out


def recordings() -> dict[str, Recording]:
    out = {**_pd._recordings(), **_simulated()}
    if REAL.is_dir():
        for name, (rel, opts) in REAL_WHOLE.items():
            if (REAL / rel).is_file():
                out[name] = APP.read(REAL / rel, **opts)
    return out


def _options(name: str):
    """Predict options of a case (most: none)."""
    if name.startswith("sim11_"):
        return APP.options_type(units="m/s2")
    if name.startswith("sim07_"):
        return APP.options_type(machine_class="iso10816-1:class-II")
    return None


def predict_live(name: str, rec: Recording, runner) -> dict:
    """One recording's predict, as objects: the model outputs ``runner`` gave, what ``prepare`` made, the result."""
    seen = {}

    def spy(x):
        out = runner(x)
        seen["out"] = {k: np.asarray(v) for k, v in out.items()}
        return out

    prepared = APP.prepare(rec, _options(name))
    result = APP.finish(prepared, spy(prepared.x))
    return {"model_outputs": seen["out"],
            "prepared": {"rpm": prepared.sample.rpm, "speed": prepared.speed, "x": prepared.x,
                         "analyses": prepared.analyses, "checks": prepared.checks, "envelope": prepared.envelope},
            "result": result, "to_dict": result.to_dict()}


def canonical(rec: Recording, live: dict) -> dict:
    """The canonical form of :func:`predict_live`'s output (what the references hold)."""
    return {
        "signal": _digest(np.asarray(rec.signal)),
        "model_outputs": {k: {"dtype": v.dtype.str, "shape": list(v.shape),
                              "values": [repr(float(t)) for t in v.ravel()]} for k, v in live["model_outputs"].items()},
        **{k: canon(live[k]) for k in ("prepared", "result", "to_dict")},
    }


def record_one(name: str, rec: Recording, runner) -> dict:
    """The canonical predict output of one recording; ``runner`` gives the model outputs (recorded with them)."""
    return canonical(rec, predict_live(name, rec, runner))


@contextlib.contextmanager
def recorded_speed(ref: dict):
    """The 1x speed check replaced by the speed the reference's code refined (replayed, like the model outputs)."""
    recorded, how = float(ref["prepared"]["rpm"]), ref["prepared"]["speed"]["rpm_source"]

    def replayed(x, *, fs_hz, rpm, **_):
        return (recorded, how) if how == "1x line" else (float(rpm), how)

    original, F.refine_rpm = F.refine_rpm, replayed
    try:
        yield
    finally:
        F.refine_rpm = original


def replay(ref: dict):
    """A runner returning the recorded model outputs."""
    def run(x):
        return {k: np.array([float(t) for t in v["values"]], dtype=np.dtype(v["dtype"])).reshape(v["shape"])
                for k, v in ref["model_outputs"].items()}
    return run


def record() -> None:
    from edgeinv.common.runtime.session import OnnxModel

    model = Path(__file__).resolve().parents[3] / "models" / "bearing_wear" / "default" / "student_fp32.onnx"
    runner = OnnxModel(str(model), threads=1)
    doc = {name: record_one(name, rec, runner) for name, rec in recordings().items()}
    REF.write_text(json.dumps(doc, separators=(",", ":"), sort_keys=True))
    print(f"wrote {REF} ({len(doc)} recordings)")


def record_cpu() -> None:
    """Record ``data/predict_equal_cpu.json``: this code's whole canonical output per recording, by its SHA-256."""
    reference = json.loads(REF.read_text())
    doc = {name: _cpu_digest(record_one(name, rec, replay(reference[name])))
           for name, rec in recordings().items() if name in reference}
    REF_CPU.write_text(json.dumps(doc, indent=0, sort_keys=True))
    print(f"wrote {REF_CPU} ({len(doc)} recordings)")


def _cpu_digest(doc: dict) -> dict:
    text = json.dumps(doc, sort_keys=True)
    return {"rpm": doc["prepared"]["rpm"], "sha256": hashlib.sha256(text.encode()).hexdigest()}


def _diff(got, ref, path="") -> list[str]:
    if isinstance(ref, dict) and isinstance(got, dict):
        if set(got) != set(ref):
            return [f"{path}: keys {sorted(set(got) ^ set(ref))} differ"]
        return [m for k in ref for m in _diff(got[k], ref[k], f"{path}.{k}")]
    if isinstance(ref, list) and isinstance(got, list) and len(got) == len(ref):
        return [m for i, (g, r) in enumerate(zip(got, ref)) for m in _diff(g, r, f"{path}[{i}]")]
    return [] if got == ref else [f"{path}: {got!r} != {ref!r}"]


def _close(got, ref, path="", worst=None) -> list[str]:
    """Where ``got`` and ``ref`` (live objects) differ beyond ``RTOL`` of each number's or array's own scale (labels,
    flags, counts, texts, shapes, dtypes and NaN/inf places: exactly); ``worst`` collects the relative deviations."""
    worst = [] if worst is None else worst
    if isinstance(ref, (list, tuple)) and len(ref) > 0 and all(type(x) is float for x in ref):
        got, ref = np.array(got, dtype=float), np.array(ref, dtype=float)
    if isinstance(ref, np.ndarray):
        if not isinstance(got, np.ndarray) or got.shape != ref.shape or got.dtype != ref.dtype:
            return [f"{path}: {type(got).__name__} {getattr(got, 'shape', '')} != {ref.dtype}{ref.shape}"]
        if ref.dtype.kind not in "fc":
            return [] if np.array_equal(got, ref) else [f"{path}: differs"]
        fin = np.isfinite(ref)
        if not np.array_equal(fin, np.isfinite(got)) or not np.array_equal(got[~fin], ref[~fin], equal_nan=True):
            return [f"{path}: NaN/inf places differ"]
        scale = float(np.max(np.abs(ref[fin]), initial=0.0))
        dev = float(np.max(np.abs(got[fin] - ref[fin]), initial=0.0)) / scale if scale else float(np.any(got[fin]))
        worst.append(dev)
        return [] if dev <= RTOL else [f"{path}: relative deviation {dev:.3g}"]
    if dataclasses.is_dataclass(ref) and not isinstance(ref, type):
        return _close({f.name: getattr(got, f.name) for f in dataclasses.fields(got)},
                      {f.name: getattr(ref, f.name) for f in dataclasses.fields(ref)}, path, worst)
    if isinstance(ref, dict):
        if not isinstance(got, dict) or set(got) != set(ref):
            return [f"{path}: keys differ"]
        return [m for k in ref for m in _close(got[k], ref[k], f"{path}.{k}", worst)]
    if isinstance(ref, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(ref):
            return [f"{path}: lengths differ"]
        return [m for i, (g, r) in enumerate(zip(got, ref)) for m in _close(g, r, f"{path}[{i}]", worst)]
    if isinstance(ref, (float, np.floating)) and not isinstance(ref, bool):
        if not isinstance(got, (float, np.floating)):
            return [f"{path}: {got!r} != {ref!r}"]
        if math.isfinite(ref) and math.isfinite(got):
            dev = abs(got - ref) / abs(ref) if ref else abs(got)
            worst.append(dev)
            return [] if dev <= RTOL else [f"{path}: {got!r} != {ref!r}"]
        return [] if repr(float(got)) == repr(float(ref)) else [f"{path}: {got!r} != {ref!r}"]
    return [] if got == ref else [f"{path}: {got!r} != {ref!r}"]


@pytest.fixture(scope="module")
def reference():
    return json.loads(REF.read_text())


@pytest.fixture(scope="module")
def cases():
    return recordings()


def test_reference_is_varied(reference):
    """The pinned recordings cover one and several windows, every named fault, the flags and a refined speed."""
    faults = {r["to_dict"]["fault"] for r in reference.values()}
    assert len(faults) >= 3
    assert any(r["to_dict"]["ood"]["flag"] for r in reference.values())
    assert any(r["to_dict"]["windows"]["n"] > 1 for r in reference.values())
    assert any(r["prepared"]["speed"]["rpm_source"] == "1x line" for r in reference.values())
    assert len(reference) >= 25


def test_predict_equals_the_recorded_reference_exactly(reference, cases):
    missing = [k for k in reference if k not in cases and k not in REAL_WHOLE and k not in _pd.REAL_FILES]
    assert not missing, missing
    problems = []
    for name, rec in cases.items():
        if name not in reference:
            continue
        ref = reference[name]
        if _digest(np.asarray(rec.signal)) != ref["signal"]:
            problems.append(f"{name}: the input recording itself changed (simulator or reader): re-record")
            continue
        with recorded_speed(ref):
            got = record_one(name, rec, replay(ref))
        problems += _diff(got, ref, name)
    assert not problems, "\n".join(problems[:40])


@pytest.fixture(scope="module")
def new_and_today(reference, cases):
    """Per recording: predict with this code's speed check, and with the speed today's (0f3c6a7's) refined."""
    out = {}
    for name, rec in cases.items():
        if name in reference and _digest(np.asarray(rec.signal)) == reference[name]["signal"]:
            new = predict_live(name, rec, replay(reference[name]))
            with recorded_speed(reference[name]):
                today = predict_live(name, rec, replay(reference[name]))
            out[name] = (rec, new, today)
    return out


def test_speed_check_and_predict_within_tolerance_of_todays(new_and_today, reference):
    """The new speed check (zoom_dft, rounded) refines the same speeds as today's within 6e-10, and the whole predict
    that follows stays within RTOL of today's, every discrete output the same."""
    assert len(new_and_today) >= 25
    problems, worst = [], []
    for name, (_, new, today) in new_and_today.items():
        speed_new, speed_today = new["prepared"]["speed"], today["prepared"]["speed"]
        if speed_new["rpm_source"] != speed_today["rpm_source"]:
            problems.append(f"{name}: speed source {speed_new['rpm_source']} != {speed_today['rpm_source']}")
            continue
        rpm_new, rpm_today = new["prepared"]["rpm"], today["prepared"]["rpm"]
        if abs(rpm_new - rpm_today) > 6e-10 * rpm_today:  # rounded to 10 digits: <= 5e-10
            problems.append(f"{name}: refined speed {rpm_new!r} != {rpm_today!r}")
        problems += _close(new, today, name, worst)
    assert not problems, "\n".join(problems[:40])
    print(f"worst relative deviation {max(worst):.3g}")
    assert 0.0 < max(worst) <= RTOL  # the speeds did move (in their last digits), and nothing moved beyond RTOL


def test_predict_same_bits_on_every_cpu(new_and_today):
    """This code's whole output, the SHA-256 recorded with --record-cpu (natively on AVX-512;
    tests/common/test_as_cpu.py repeats it as an AVX2 and an SSE4.2 CPU)."""
    pinned = json.loads(REF_CPU.read_text())
    got = {name: _cpu_digest(canonical(rec, new)) for name, (rec, new, _) in new_and_today.items()}
    assert not set(pinned) - set(got) - set(REAL_WHOLE) - set(_pd.REAL_FILES)  # only real files may be absent
    wrong = [f"{k}: {got[k]} != {pinned[k]}" for k in got if k in pinned and got[k] != pinned[k]]
    assert len(set(got) & set(pinned)) >= 25 and not wrong, "\n".join(wrong)


def test_the_comparison_can_fail(reference, cases):
    """A one-ulp change of one sample moves the pinned output."""
    name = "12k_1797_outer"
    rec = cases[name]
    sig = np.array(rec.signal, copy=True)
    sig[100] = np.nextafter(sig[100], np.float32(np.inf))
    with recorded_speed(reference[name]):
        got = record_one(name, dataclasses.replace(rec, signal=sig), replay(reference[name]))
    assert _diff(got["prepared"], reference[name]["prepared"])


if __name__ == "__main__":
    if "--record" in sys.argv:
        record()
    if "--record-cpu" in sys.argv:
        record_cpu()
