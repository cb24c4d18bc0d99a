"""The decision layer's outputs pinned to a stored reference (issue 13: the whole edge path faster at equal results).

``test_features_pinned`` holds the preprocessing; this module holds what ``APP.finish`` makes of it: the
calibrated probabilities, the envelope-line evidence (heights, gate scores, FTF sidebands, status, text),
the OOD score, distance, input checks (clipping, flatness, single tone) and flags, the speed / sampling-rate
check's verdict and family heights, the speed note, the severity index with its entry/exit bump, the one
defect size, the alarm with its reasons, the notes, the whole-recording indicators and the ISO zone.

Inputs: the five synthetic windows of ``test_features_pinned`` (plain numpy, independent of the simulator),
cases made to fire each check — a clipped copy, a pure tone, white noise, one window typed at 1.4x its speed
(the speed check disagrees), one typed 1.5 % high with its 1x line removed (speed note) — and, when
``../shared/realdata/bearing-wear`` is present, the first two windows of one HIT-SM and one MFPT recording.
The model's outputs are fixed per case (two sets: one leaning to the case's own fault or "none", one to a ball
fault), so the reference does not move with a retrained model.

The reference (``data/pinned_decision.json``) was written by preprocessing version 6 with its decision constants
(``data/calibration.json`` of that release; stop 24, stage B): ``python tests/apps/bearing_wear/test_decision_pinned.py
--regenerate``. Version 5's reference (commit ca4c419) was retired with it: version 6 reads the checks from the
windows' own spectra and is compared with version 5 by its decisions (``test_agreement_v5.py``).
Tolerances: every string, flag, status, count and class exact; every number within 1e-9 relative
(+1e-12), except numbers the result rounds for display, which may differ by one unit of their last
digit (a value within 1e-9 of a rounding boundary) — the comparison below states which.
"""

from __future__ import annotations

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
from edgeinv.apps.bearing_wear.physics import FAULTS, get_geometry

REF = Path(__file__).parent / "data" / "pinned_decision.json"
_spec = importlib.util.spec_from_file_location("_bw_pinned_features", Path(__file__).parent / "test_features_pinned.py")
_pf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_pf)
SYNTH, REAL, REAL_FILES, synthetic_window = _pf.SYNTH, _pf.REAL, _pf.REAL_FILES, _pf.synthetic_window


def _recordings() -> dict[str, Recording]:
    g = get_geometry("6205")
    out = {}
    for name, (fs, rpm, fault, f_res, seed) in SYNTH.items():
        out[name] = Recording(synthetic_window(fs, rpm, fault, f_res, seed).astype(np.float32), fs, rpm, g,
                              source=name, truth={"fault": fault or "none"})
    x = synthetic_window(*SYNTH["12k_1797_outer"])
    out["clipped"] = Recording(np.clip(x, -0.3 * np.abs(x).max(), 0.3 * np.abs(x).max()).astype(np.float32),
                               12000.0, 1797.0, g, source="clipped", truth={"fault": "outer_race"})
    n = F.window_length(fs_hz=25600.0, rpm=1500.0)
    t = np.arange(n) / 25600.0
    out["tone"] = Recording((np.sin(2 * np.pi * 1234.5 * t) + 1e-3 * np.random.default_rng(7).standard_normal(n))
                            .astype(np.float32), 25600.0, 1500.0, g, source="tone", truth={"fault": "none"})
    out["white"] = Recording(np.random.default_rng(8).standard_normal(n).astype(np.float32), 25600.0, 1500.0, g,
                             source="white", truth={"fault": "none"})
    fs, rpm, fault, f_res, seed = SYNTH["48k_3600_outer"]
    out["typed_1.4x"] = Recording(synthetic_window(fs, rpm, fault, f_res, seed).astype(np.float32), fs, 1.4 * rpm, g,
                                  source="typed_1.4x", truth={"fault": fault})
    fs, rpm, fault, f_res, seed = SYNTH["25k6_1200_ball"]
    x = synthetic_window(fs, rpm, fault, f_res, seed)
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / fs)
    spec[np.abs(f - rpm / 60.0) < 2.0] = 0.0  # no 1x line: the speed stays as typed (speed note)
    out["no_1x_line"] = Recording(np.fft.irfft(spec, n=len(x)).astype(np.float32), fs, 1.015 * rpm, g,
                                  source="no_1x_line", truth={"fault": fault})
    if REAL.is_dir():
        for name, (rel, opts) in REAL_FILES.items():
            if not (REAL / rel).is_file():
                continue
            rec = APP.read(REAL / rel, **opts)
            spans = F.split_windows(len(rec.signal), fs_hz=rec.fs_hz, rpm=rec.rpm, max_windows=2)
            out[name] = Recording(rec.signal[: spans[min(1, len(spans) - 1)][1]], rec.fs_hz, rec.rpm, rec.geometry,
                                  source=name, meta=dict(rec.meta), truth={"fault": "outer_race"})
    return out


def _outputs(fault: str, n: int) -> list[dict]:
    """Two fixed sets of model outputs for ``n`` windows: leaning to ``fault``, and to a ball fault."""
    sets = []
    for lean, p in ((fault, 0.7), ("ball", 0.55)):
        probs = np.full(len(FAULTS), (1.0 - p) / (len(FAULTS) - 1), dtype=np.float32)
        probs[FAULTS.index(lean)] = p
        sets.append({"fault": np.tile(probs, (n, 1)), "defect_size_mm": np.full(n, 0.8, np.float32),
                     "defect_size_mm_std": np.full(n, 0.25, np.float32)})
    return sets


def results(recordings: dict[str, Recording] | None = None) -> dict[str, list[dict]]:
    out = {}
    for name, rec in (recordings or _recordings()).items():
        prepared = APP.prepare(rec)
        out[name] = [json.loads(json.dumps(APP.finish(prepared, o).to_dict(), default=float))
                     for o in _outputs(rec.truth["fault"], len(prepared.analyses))]
    return out


def regenerate() -> None:
    REF.parent.mkdir(exist_ok=True)
    REF.write_text(json.dumps(results(), indent=1, sort_keys=True))
    print(f"wrote {REF}")


# numbers the result rounds for display (dB to 0.1, probabilities and scores to 1e-3 or 1e-4, mm to 1e-2 or 1e-3,
# rpm to 0.1, indicators to 1e-4 or 1e-6): one unit of the last digit where the value sits within 1e-9 of a boundary
def _unit(v: float) -> float:
    s = repr(float(v))
    if "e" in s or "." not in s:
        return 0.0
    return 10.0 ** -len(s.split(".")[1].rstrip("0") or "0")


def _compare(got, ref, path="") -> list[str]:
    if isinstance(ref, dict):
        if not isinstance(got, dict) or set(got) != set(ref):
            return [f"{path}: keys {sorted(got) if isinstance(got, dict) else got} != {sorted(ref)}"]
        return [m for k in ref for m in _compare(got[k], ref[k], f"{path}.{k}")]
    if isinstance(ref, list):
        if not isinstance(got, list) or len(got) != len(ref):
            return [f"{path}: {got} != {ref}"]
        return [m for i, (g, r) in enumerate(zip(got, ref)) for m in _compare(g, r, f"{path}[{i}]")]
    if isinstance(ref, bool) or ref is None or isinstance(ref, str):
        return [] if got == ref else [f"{path}: {got!r} != {ref!r}"]
    if isinstance(ref, int) and isinstance(got, int):
        return [] if got == ref else [f"{path}: {got} != {ref}"]
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return [f"{path}: {got!r} != {ref!r}"]
    tol = 1e-9 * abs(ref) + 1e-12
    if math.isclose(got, ref, rel_tol=0.0, abs_tol=tol):
        return []
    unit = max(_unit(got), _unit(ref))
    if unit and abs(got - ref) <= unit * (1 + 1e-6):
        return []  # one unit of a rounded display value
    return [f"{path}: {got!r} != {ref!r}"]


@pytest.fixture(scope="module")
def reference():
    return json.loads(REF.read_text())


@pytest.fixture(scope="module")
def got():
    return results()


def test_reference_covers_every_check(reference):
    """The pinned cases exercise the decision layer: each input check, the speed check and the speed note fire
    somewhere, faults are named and gated, an entry/exit delay is read."""
    res = [r for rs in reference.values() for r in rs]
    fired = {c for r in res for c, v in (r["ood"].get("checks") or {}).items() if v["failed"]}
    assert {"clipping", "flat_spectrum", "single_tone"} <= fired
    assert any((r["ood"].get("speed_check") or {}).get("disagrees") for r in res)
    assert any(r["ood"].get("speed_note") for r in res)
    assert {r["fault"] for r in res} >= {"none", "outer_race"}
    assert any(s == "no line" for r in res for s in (v["status"] for v in r["evidence"]["per_fault"].values()))
    assert any(r["severity_index"] > 0 for r in res)


def test_decision_layer_equals_the_pinned_reference(reference, got):
    missing = [k for k in reference if k not in got and not (k in REAL_FILES)]
    assert not missing, missing
    problems = [m for name in reference if name in got for m in _compare(got[name], reference[name], name)]
    assert not problems, "\n".join(problems[:40])


def test_the_comparison_can_fail(reference):
    """A changed probability, a flipped flag or a changed message is caught."""
    name = next(iter(reference))
    for key, bad in ((("probabilities", "none"), 0.5), (("ood", "flag"), "x"), (("alarm_reasons",), ["changed"])):
        r = json.loads(json.dumps(reference[name][0]))
        node = r
        for k in key[:-1]:
            node = node[k]
        node[key[-1]] = bad if not isinstance(node[key[-1]], bool) else not node[key[-1]]
        assert _compare(r, reference[name][0])


if __name__ == "__main__":
    if "--regenerate" in sys.argv:
        regenerate()
