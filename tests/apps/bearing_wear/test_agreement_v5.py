"""Preprocessing version 6 (issue 13, stop 24: the lean per-window path, a retrained model, recalibrated decision
constants) decides like version 5 did: the fault named, the OOD flag, the alarm, the ISO zone and the size status of
small simulated set, compared with version 5's decisions stored in ``data/agreement_v5.json``.

The set: 36 simulated recordings (conditions drawn as in training, a third 1-3 windows long), 4 sines with 0-30 %
noise, 4 white noises and 4 recordings typed at 1.3x / 1.5x / 0.7x / 1.01x their speed (seed 77). The stored
decisions were made by commit 66d70ed's ``bearing_wear`` package with its shipped student (version 5):
``python tests/apps/bearing_wear/test_agreement_v5.py --regenerate W/pk W/ref/models/bearing_wear/default``
(set up as ``docs/apps/bearing_wear_trials/agree_v6.py`` says). The larger comparison (370 recordings) is that
trial's: all five decisions equal on 89.5 % of 370 recordings, the fault on 96.5 % (``docs/apps/bearing_wear.md``,
"Stage B"). On these 48 version 6 measures 85.4 % and 91.7 % (the differences are weak ball and cage faults either
side of the evidence gate and zones next to a boundary). Required here: every decision equal on at least 80 % of the
recordings, the fault on at least 90 %, the flag on every sine and white noise version 5 flagged (one noisy sine
here has a tone share of 0.88 / 0.90 in versions 5 / 6, below the 0.9 limit: flagged by neither).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeinv.apps.bearing_wear import features as F
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.apps.bearing_wear.io import Recording
from edgeinv.apps.bearing_wear.physics import get_geometry
from edgeinv.apps.bearing_wear.simulate import draw_conditions

REF = Path(__file__).parent / "data" / "agreement_v5.json"
MODELS = Path(__file__).resolve().parents[3] / "models" / "bearing_wear" / "default"
FIELDS = ("fault", "flag", "alarm", "zone", "size")


def recordings(*, seed: int = 77, n_sim: int = 36, n_noise: int = 4, typed=(1.3, 1.5, 0.7, 1.01)) -> list[tuple[str, Recording]]:
    """(kind, recording): ``n_sim`` simulated (a third 1-3 windows long), ``n_noise`` sines with 0-30 % noise and
    ``n_noise`` white noises, and one simulated two-window recording typed at each factor of ``typed``."""
    rng = np.random.default_rng(seed)
    wl = F.window_length
    out = []
    for i in range(n_sim):
        c = draw_conditions(rng=rng)
        dur = None if i % 3 else float(rng.uniform(1.0, 3.0)) * wl(fs_hz=c.fs_hz, rpm=c.reported_rpm) / c.fs_hz
        out.append((f"sim_{c.fault}", APP.simulate_recording(c, rng=rng, duration_s=dur)))
    g = get_geometry("6205-2rs")
    for i in range(n_noise):
        fs = float(rng.choice([12000., 25600., 48000., 51200.]))
        rpm = float(rng.uniform(600, 3600))
        n = int(wl(fs_hz=fs, rpm=rpm) * rng.uniform(1.0, 2.5))
        t = np.arange(n) / fs
        tone = np.sin(2 * np.pi * float(rng.uniform(50, fs / 3)) * t) + rng.uniform(0, 0.3) * rng.standard_normal(n)
        out.append(("sine", Recording(tone.astype(np.float32), fs, rpm, g, source="sine")))
        out.append(("white", Recording(rng.standard_normal(n).astype(np.float32), fs, rpm, g, source="white")))
    for f in typed:
        c = draw_conditions(rng=rng)
        r = APP.simulate_recording(c, rng=rng, duration_s=2.0 * wl(fs_hz=c.fs_hz, rpm=c.reported_rpm) / c.fs_hz)
        out.append(("typed_off", Recording(r.signal, r.fs_hz, r.rpm * f, r.geometry, source="typed_off")))
    return out


def decisions(d: dict) -> dict:
    return {"fault": d["fault"], "flag": bool(d["ood"]["flag"]), "alarm": d["alarm"],
            "zone": (d.get("severity") or {}).get("zone"), "size": (d.get("size") or {}).get("status")}


@pytest.mark.skipif(not (MODELS / "student_fp32.onnx").is_file(), reason="no shipped model")
def test_version_6_decides_like_version_5():
    from edgeinv.common.runtime.session import OnnxModel

    ref = json.loads(REF.read_text())
    runner = OnnxModel(str(MODELS / "student_fp32.onnx"), threads=1)
    recs = recordings()
    assert len(recs) == len(ref["decisions"])
    got = [decisions(APP.predict(r, runner).to_dict()) for _, r in recs]
    old = ref["decisions"]
    n = len(recs)
    all_equal = sum(g == o for g, o in zip(got, old)) / n
    fault_equal = sum(g["fault"] == o["fault"] for g, o in zip(got, old)) / n
    assert all_equal >= 0.8 and fault_equal >= 0.9, (all_equal, fault_equal, [(k, o, g) for (k, _), o, g in zip(recs, old, got) if g != o])
    for (kind, _), g, o in zip(recs, got, old):
        if kind in ("sine", "white") and o["flag"]:  # an alien input version 5 flagged stays flagged
            assert g["flag"], (kind, g)


def regenerate(package_dir: str, models_dir: str) -> None:
    sys.path.insert(0, package_dir)
    import bw_head.app as BA
    import bw_head.physics as BP

    from edgeinv.common.runtime.session import OnnxModel

    runner = OnnxModel(str(Path(models_dir) / "student_fp32.onnx"), threads=1)
    out = []
    for _, r in recordings():
        geom = BP.get_geometry(r.geometry.name) if r.geometry.name in BP.PRESETS else r.geometry
        out.append(decisions(BA.APP.predict(BA.Recording(r.signal, r.fs_hz, r.rpm, geom, source=r.source,
                                                         channel=r.channel), runner).to_dict()))
    REF.write_text(json.dumps({"written_by": "66d70ed bearing_wear package + its student_fp32 (version 5)",
                               "decisions": out}, indent=1) + "\n")
    print(f"wrote {REF}: {len(out)} decisions")


if __name__ == "__main__":
    if "--regenerate" in sys.argv:
        regenerate(sys.argv[2], sys.argv[3])
