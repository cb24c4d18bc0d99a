import sys, time, pickle
import numpy as np, scipy.fft as sfft
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.apps.bearing_wear import decision as D, severity as S, features as F
from edgeinv.apps.bearing_wear.physics import rolling_speed_m_s
from edgeinv.common.runtime.session import OnnxModel

def gated_acf(x, fs, band, rpm, geometry, *, gate):
    """squared envelope of the wide band, optionally weighted by its shaft-synchronous profile; ACF on the mm axis"""
    x = np.asarray(x, float); x = x - x.mean(); n = len(x)
    nfft = sfft.next_fast_len(n, real=True)
    X = sfft.rfft(x, n=nfft)
    c, env_fs = F._band_envelope(X, n=nfft, fs_hz=fs, f_lo=band.f_lo_hz, f_hi=band.f_hi_hz, oversample=2)
    e = np.square(np.abs(c))[: int(n / fs * env_fs)]
    e = e - np.median(e)
    if gate:
        f_r = rpm / 60.0
        ph = (np.arange(len(e)) / env_fs * f_r) % 1.0
        nb = 64
        idx = np.minimum((ph * nb).astype(int), nb - 1)
        prof = np.bincount(idx, weights=np.maximum(e, 0), minlength=nb) / np.maximum(np.bincount(idx, minlength=nb), 1)
        k = np.ones(5) / 5
        prof = np.convolve(np.r_[prof[-2:], prof, prof[:2]], k, mode="valid")
        w = prof / prof.max()
        e = (e - prof[idx]) * w[idx]  # the shaft-synchronous mean removed, the load-zone passage weighted
    v = rolling_speed_m_s(geometry=geometry, shaft_hz=rpm / 60.0)
    max_lag = min(int(F.SIZE_AXIS_MAX_MM * 1e-3 / v * env_fs) + 2, len(e) // 2)
    e = e - e.mean()
    sp = sfft.rfft(e, n=sfft.next_fast_len(len(e) + max_lag, real=True))
    r = sfft.irfft(np.abs(sp) ** 2)[:max_lag]
    if r[0] <= 0:
        return np.zeros(F.N_BINS)
    lag_mm = np.arange(max_lag) / env_fs * v * 1e3
    return np.interp(F.SIZE_AXIS_MM, lag_mm, r / r[0], right=0.0)

def record(rec, an, runner=None):
    lim = S._limit(rec, an)
    row = {"limit": lim, "acf": S.acf_profile(an), "ring": float(np.median([a.ringdown_s for a in an]))}
    wide = an[int(np.argmax([a.wide.sk for a in an]))].wide
    for g in (False, True):
        row["acf_g%d" % g] = gated_acf(rec.signal, rec.fs_hz, wide, rec.rpm, rec.geometry, gate=g)
    if runner is not None:
        row["model"] = float(np.median(np.asarray(runner(np.stack([a.x for a in an]))["defect_size_mm"]).reshape(-1)))
        row["ev"] = D.line_evidence(an, geometry=rec.geometry)
    return row

def sweep(n_machines, seed, sizes=(0.3, 0.7, 1.2, 1.9, 2.8), windows=2, runner=None):
    rows = []
    for m, c, rec, an in S.sweep_recordings(APP, n_machines=n_machines, sizes=sizes, seed=seed, windows=windows):
        row = record(rec, an, runner)
        row.update(machine=m, fault=c.fault, size=c.defect_size_mm, snr=c.snr_db, rpm=c.rpm, fs=c.fs_hz)
        rows.append(row)
        if c.defect_size_mm == sizes[-1]:
            print("machine", m, flush=True)
    return rows

def healthy(n, seed):
    from edgeinv.apps.bearing_wear.calibrate import _recording
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        rec = _recording(rng, fault="none")
        an = APP.analyse(rec, max_windows=1)
        out.append(record(rec, an))
        rec.release()
    return out

if __name__ == "__main__":
    runner = OnnxModel("models/bearing_wear/default/student_fp32.onnx", threads=1)
    t = time.time()
    if sys.argv[1] == "healthy":
        rows = healthy(int(sys.argv[2]), int(sys.argv[3]))
    else:
        rows = sweep(int(sys.argv[2]), int(sys.argv[3]), runner=runner)
    pickle.dump(rows, open(sys.argv[4], "wb"))
    print("done", time.time() - t)
