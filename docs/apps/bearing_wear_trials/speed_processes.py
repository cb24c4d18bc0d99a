"""(issue 13, stop 25) Whole `predict` of three codes, each in its own process, processes alternated round by round:
CPU time per call, one thread, at the five (fs, rpm) points of `speed_interleaved3.py` (the same simulated windows).

Why a second harness: `speed_interleaved3.py` runs 388986c, a reference and the measured code call by call in ONE
process, so they share one heap. 388986c's large temporaries leave glibc's malloc with raised mmap/trim thresholds,
and then no code pays page faults for fresh arrays; a serving process runs one code only, and a code that frees
large arrays every call gets fresh (faulting) pages every call. Stop 25's scratch arrays remove those faults, which
the one-process harness cannot see. Here each code runs alone in its process (its own heap, as when serving), and
the processes alternate (old, base, new, then rotated) so that the machine's load drifts over all three alike.

    OMP_NUM_THREADS=1 PYTHONPATH=<tree> python docs/apps/bearing_wear_trials/speed_processes.py W/pk 30 3 [MODE [WARM]]
    (W/pk as for speed_interleaved3.py: W/pk/old/bw_old = 388986c's package, W/pk/base/bw_base = the reference)

MODE (stop 29): ``same`` (default) predicts each point's window again and again; ``typed`` predicts N fresh
single-window recordings per point whose speed drifts by up to +-1 % and is typed as it is; ``field`` N fresh
recordings of one fixed length (one window at the nominal speed and 5 %) with the nominal speed typed and the true
speed drifting by up to +-1 % (speed_recordings.py's cases b and c); ``stream`` the bench's 50 held-out windows
x 3 rounds (``speed_interleaved3.py --stream``).

WARM (stop 30; ``typed``/``field``): each process first predicts WARM other fresh recordings of the same machine
untimed, so the timed ones see the per-machine tables a device in service has built (without it, the first 30
recordings of a process are timed while the fault-order views and band plans are still being built: ~40 recordings
at 12 kHz). Each code's p50 is printed as the median over its processes and as its best process's: the host's
interference only ever slows a process (identical code measured 0.71-1.34x itself over 3-5 processes in stop 30).
SPEED_JSON=FILE keeps every process's figures.

The fresh recordings are simulated before the timing (the same seeds in every process), so each arrives from
memory as a new recording would. In one process (speed_recordings.py) the other code's run between two calls evicts the measured code's tables and buffers from
the CPU caches; here nothing runs between two calls but the measured code.
"""
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

POINTS = ((12000., 1797.), (25600., 1500.), (48000., 3600.), (48000., 600.), (51200., 900.))


def load(pk: Path, code: str):
    """(the package of ``code``: its ``app`` module, its ``physics`` module or None for this tree's, this tree's app
    module, a one-thread runner of the shipped student)."""
    sys.path.insert(0, str(pk / "old"))
    sys.path.insert(0, str(pk / "base"))
    from edgeinv.apps.bearing_wear import app as A
    from edgeinv.common.runtime.session import OnnxModel

    if code == "old":
        import bw_old.app as P
        import bw_old.physics as PP
    elif code == "base":
        import bw_base.app as P
        import bw_base.physics as PP
    else:
        P, PP = A, None
    models = Path(__file__).resolve().parents[3] / "models" / "bearing_wear" / "default"
    return P, PP, A, OnnxModel(str(models / "student_fp32.onnx"), threads=1)


def point_recordings(P, PP, A, fs: float, rpm: float, mode: str, count: int) -> list:
    """``count`` recordings of one (fs, rpm) point for ``mode`` (``same``: one recording, repeated), as ``P``'s
    Recording; the same seeds for every code."""
    from edgeinv.apps.bearing_wear.physics import get_geometry
    from edgeinv.apps.bearing_wear.simulate import draw_conditions

    rng = np.random.default_rng(1)
    geom = (PP or sys.modules["edgeinv.apps.bearing_wear.physics"]).get_geometry("6205-2rs")
    recs = []
    for i in range(1 if mode == "same" else count):
        r = rpm if mode == "same" else rpm * (1 + rng.uniform(-0.01, 0.01))
        c = draw_conditions(rng=rng, fault="outer_race", defect_size_mm=1.0, rpm=r, fs_hz=fs,
                            geometry=get_geometry("6205-2rs"), snr_db=0.0, rpm_error_frac=0.0)
        seconds = 1.05 * 32 * 60.0 / rpm if mode == "field" else None
        sig = A.APP.simulate_recording(c, rng=rng, duration_s=seconds).signal
        if mode == "field":
            sig = np.ascontiguousarray(sig[:int(round(seconds * fs))])
        recs.append(P.Recording(sig, fs, rpm if mode == "field" else r, geom, source="s"))
    return recs * count if mode == "same" else recs


def stream_recordings(P, PP, A, count: int) -> list:
    """The bench's 50 held-out windows (seed 100003: 50 machines of random rate, speed and bearing) as ``P``'s
    Recording, repeated in order up to ``count``. Simulating them runs this tree's preprocessing, which fills its
    per-machine tables: they are emptied again (:func:`forget_tables`), so a first visit is one for every code."""
    from edgeinv.common.runtime.bench import _heldout

    ds = _heldout(A.APP, "default", 100003, 50, None)
    recs = [P.Recording(np.asarray(r.signal), r.fs_hz, r.rpm, r.geometry if PP is None else
                        PP.BearingGeometry(**dataclasses.asdict(r.geometry)), source="s") for r in ds.samples]
    forget_tables(A)
    return (recs * -(-count // len(recs)))[:count]


def forget_tables(app_module) -> None:
    """Empty every kept table (``functools.lru_cache`` functions, the 1x check's Hann halves) of the package of
    ``app_module``."""
    package = app_module.__name__.rsplit(".", 1)[0]
    for name, module in list(sys.modules.items()):
        if module is not None and (name == package or name.startswith(package + ".")):
            for value in list(vars(module).values()):
                if hasattr(value, "cache_clear"):  # also one wrapped elsewhere (speed_misses.py times the misses)
                    value.cache_clear()
            halves = getattr(module, "_hann_halves", None)
            if halves is not None:
                halves.clear()


def child(pk: Path, code: str, n: int, mode: str = "same", warm: int = 0) -> None:
    P, PP, A, runner = load(pk, code)
    out = {}
    if mode == "stream":  # the bench's 50 held-out windows (seed 100003) x 3 rounds, as speed_interleaved3.py --stream
        t = []
        for rec in stream_recordings(P, PP, A, 150):
            t0 = time.process_time()
            P.APP.predict(rec, runner)
            t.append(time.process_time() - t0)
        print(json.dumps({"stream": float(np.median(t))}))
        return
    for fs, rpm in POINTS:
        recs = point_recordings(P, PP, A, fs, rpm, mode, n + 3 + warm)
        t = []
        for i, rec in enumerate(recs):
            t0 = time.process_time()
            P.APP.predict(rec, runner)
            if i >= 3 + warm:
                t.append(time.process_time() - t0)
        out[f"{fs:g}/{rpm:g}"] = float(np.median(t))
    print(json.dumps(out))


def driver(pk: Path, n: int, rounds: int, mode: str = "same", warm: int = 0, json_out: str | None = None) -> None:
    codes = ["old", "base", "new"]
    res = {c: [] for c in codes}
    for r in range(rounds):
        for c in codes[r % 3:] + codes[:r % 3]:
            p = subprocess.run([sys.executable, __file__, "--child", str(pk), c, str(n), mode, str(warm)], capture_output=True,
                               text=True, check=True)
            res[c].append(json.loads(p.stdout.strip().splitlines()[-1]))
    for key in res["new"][0]:
        m = {c: np.median([d[key] for d in res[c]]) * 1e3 for c in codes}
        b = {c: np.min([d[key] for d in res[c]]) * 1e3 for c in codes}  # the host's interference only slows a process
        print(f"{key}: p50 old {m['old']:.2f} / base {m['base']:.2f} / new {m['new']:.2f} ms; "
              f"x vs 388986c {m['old'] / m['new']:.2f}; x vs base {m['base'] / m['new']:.2f} "
              f"(medians over {rounds} processes each, {mode}" + (f", after {warm} untimed" if warm else "") + "); "
              f"best process: old {b['old']:.2f} / base {b['base']:.2f} / new {b['new']:.2f} ms, "
              f"x vs 388986c {b['old'] / b['new']:.2f}, x vs base {b['base'] / b['new']:.2f}", flush=True)
    if json_out:
        Path(json_out).write_text(json.dumps(res))


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        child(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else "same",
              int(sys.argv[6]) if len(sys.argv) > 6 else 0)
    else:
        driver(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 30,
               int(sys.argv[3]) if len(sys.argv) > 3 else 3, sys.argv[4] if len(sys.argv) > 4 else "same",
               int(sys.argv[5]) if len(sys.argv) > 5 else 0, os.environ.get("SPEED_JSON"))
