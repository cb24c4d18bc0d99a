"""(issue 13, stop 29) Which per-machine tables fresh recordings rebuild: every kept builder (``functools.lru_cache``)
of the edge path is re-wrapped to time its misses, then 77 fresh recordings are predicted after 3 warm-up ones.

    OMP_NUM_THREADS=1 PYTHONPATH=. python docs/apps/bearing_wear_trials/speed_misses.py FS RPM [N] [--field]
    OMP_NUM_THREADS=1 PYTHONPATH=. python docs/apps/bearing_wear_trials/speed_misses.py --stream

Recordings: outer race 1 mm, 0 dB, true speed drifting +-1 % from RPM; by default one window each with the drifting
speed typed; ``--field`` one fixed length (one window at RPM and 5 %) with RPM typed. Prints, per builder, the time in
its misses per recording and the count (nested builders count in their callers too).

``--stream`` (stop 30): what a machine's first recording costs. The bench's 50 machines are predicted twice (after
one warm-up call on the first); prints the mean time of a first and of a second visit, pocketfft's transforms' time on
each (it keeps plans for 16 lengths only, so they are rebuilt on both) and the builders' misses on the first visits.
"""
import functools
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from edgeinv.apps.bearing_wear import app as A
from edgeinv.apps.bearing_wear import features as F
from edgeinv.apps.bearing_wear import kurtogram as K
from edgeinv.apps.bearing_wear import ood as O
from edgeinv.apps.bearing_wear import orders as R
from edgeinv.apps.bearing_wear import pocketfft as PF
from edgeinv.apps.bearing_wear.physics import get_geometry
from edgeinv.apps.bearing_wear.simulate import draw_conditions
from edgeinv.common.runtime.session import OnnxModel

spent, misses = defaultdict(float), Counter()


def timed_misses(module, name):
    kept = getattr(module, name)
    if not hasattr(kept, "cache_info"):
        return
    build = kept.__wrapped__

    def miss(*args, **kwargs):
        t0 = time.perf_counter()
        out = build(*args, **kwargs)
        spent[name] += time.perf_counter() - t0
        misses[name] += 1
        return out

    setattr(module, name, functools.lru_cache(maxsize=kept.cache_info().maxsize)(miss))


for module in (F, K, O, R, PF):
    for name in dir(module):
        if hasattr(getattr(module, name), "cache_info") and getattr(getattr(module, name), "__module__", "") == module.__name__:
            timed_misses(module, name)
MODELS = Path(__file__).resolve().parents[3] / "models" / "bearing_wear" / "default"
runner = OnnxModel(str(MODELS / "student_fp32.onnx"), threads=1)


def report(title: str, count: int, times: dict, counts: Counter) -> None:
    print(title)
    for name, s in sorted(times.items(), key=lambda kv: -kv[1]):
        print(f"  {name:22s} {s / count * 1e3:.4f} ms per recording ({counts[name]} misses)")


def stream() -> None:
    import scipy.fft._pocketfft.pypocketfft as PP

    from edgeinv.common.runtime.bench import _heldout

    fft = defaultdict(float)
    for name in ("r2c", "c2c", "c2r"):
        def timed(*a, _o=getattr(PP, name), _n=name, **kw):
            t0 = time.perf_counter()
            out = _o(*a, **kw)
            fft[_n] += time.perf_counter() - t0
            return out

        setattr(PP, name, timed)
    ds = _heldout(A.APP, "default", 100003, 50, None)  # its simulation fills the tables of the preprocessing ...
    recs = [A.Recording(np.asarray(r.signal), r.fs_hz, r.rpm, r.geometry, source="s") for r in ds.samples]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from speed_processes import forget_tables

    A.APP.predict(recs[0], runner)  # imports, the calibration
    forget_tables(A)  # ... emptied: the visits below are first visits
    spent.clear()
    misses.clear()
    visits = []
    for visit in range(2):
        fft.clear()
        t0 = time.perf_counter()
        for rec in recs[1:]:
            A.APP.predict(rec, runner)
        visits.append(((time.perf_counter() - t0) / (len(recs) - 1) * 1e3, sum(fft.values()) / (len(recs) - 1) * 1e3))
        if visit == 0:
            first = dict(spent), Counter(misses)
    report(f"bench stream: first visit {visits[0][0]:.3f} ms (transforms {visits[0][1]:.3f}), second {visits[1][0]:.3f} ms "
           f"(transforms {visits[1][1]:.3f}); misses on the first visits:", len(recs) - 1, *first)


if sys.argv[1] == "--stream":
    stream()
    sys.exit(0)
fs, rpm = float(sys.argv[1]), float(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3].isdigit() else 80
field = "--field" in sys.argv
rng = np.random.default_rng(3)
g = get_geometry("6205-2rs")
recordings = []
for _ in range(n):
    r = rpm * (1 + rng.uniform(-0.01, 0.01))
    c = draw_conditions(rng=rng, fault="outer_race", defect_size_mm=1.0, rpm=r, fs_hz=fs, geometry=g, snr_db=0.0,
                        rpm_error_frac=0.0)
    seconds = 1.05 * F.N_REV * 60.0 / rpm if field else None
    sig = A.APP.simulate_recording(c, rng=rng, duration_s=seconds).signal
    recordings.append(A.Recording(sig[:int(round(seconds * fs))] if field else sig, fs, rpm if field else r, g, source="s"))
for rec in recordings[:3]:
    A.APP.predict(rec, runner)
spent.clear()
misses.clear()
t0 = time.perf_counter()
for rec in recordings[3:]:
    A.APP.predict(rec, runner)
per = (time.perf_counter() - t0) / (n - 3) * 1e3
report(f"{fs:g} Hz {rpm:g} rpm {'fixed length' if field else 'speed typed'}: {per:.3f} ms per fresh recording; misses:",
       n - 3, spent, misses)
