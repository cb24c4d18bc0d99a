"""(issue 13, stop 24, stage A) A lean per-window edge path of bearing-wear, written to measure its COST only.

Not shipped and not a model: its model input is a new definition (a new PREPROCESSING_VERSION if it were shipped),
the shipped student was not retrained on it, and its outputs are not validated. `speed_lean_proto.py` times it
interleaved with 388986c and HEAD (CPU time, one thread). Design, every piece a definition change:

* float32 window cut to its longest 5-smooth prefix (<= 0.5 % of the samples dropped); ONE rfft serves the usable
  top, the band powers, the kurtogram (windows <= KSEG samples), both envelopes, the velocity, the 1x refinement,
  the OOD spectral checks (flatness from 192 band powers, tone share) and the speed/fs family search;
* 1x refinement from the window's own spectrum (Hann applied in the frequency domain to the bins within +-10 %),
  then the order axis is read at the refined speed (no second window);
* kurtogram (per level: one batched ifft of its bands, SK = <|c|^4>/<|c|^2>^2 - 2) on the levels LEVELS of the rfft
  of the first KSEG samples; V4: each band's ifft at a 5-smooth length (zero-padded: 2 133 -> 2 160 points costs
  25 instead of 79 us);
* envelopes: the band's bins -> ifft at oversample OVS (2: alias-free |c|^2; 1: half the points) -> |c|^2 -> rfft,
  both bands in one batched call (V3/V4); order axis by np.interp; background = median of each one-order block
  (no running median);
* autocorrelation (spall-length axis) of the energy band's squared envelope, circular, from its spectrum (one irfft);
* decision layer: the OOD score from the views directly (V3/V4: no np.median machinery), clipping from the
  indicators' pass, the speed/fs family from the window's power spectrum (LEAN_SPEED: block medians instead of a
  running median, +-1-bin maxima by shifts), the line evidence from the window's own slip search, and today's
  `interpret.combine` for the result (not rewritten).

Variants timed by `speed_lean_proto.py`: v1 (first design), v2 (levels 1.6-2.6, oversample 1, partition medians,
lean speed check), v3 (v2 + one gather for all kurtogram bands padded to the widest: slower), v4 (v2 + batched
envelopes, lean OOD score, 5-smooth kurtogram bands), v5 (v4 with levels 2-2.6 and an 8 192-sample kurtogram),
v6 (v5 with level 2 only: four bands).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft as sfft

from edgeinv.apps.bearing_wear import features as F
from edgeinv.apps.bearing_wear import ood as O
from edgeinv.apps.bearing_wear import decision as D
from edgeinv.apps.bearing_wear.interpret import combine, recording_indicators
from edgeinv.apps.bearing_wear.kurtogram import Band
from edgeinv.apps.bearing_wear.physics import rolling_speed_m_s

KSEG = 16384
OVS = 2
LEVELS = (1.0, 1.585, 2.0, 2.585, 3.0)  # kurtogram levels kept (rounded)
PART_MEDIAN = False
LEAN_SPEED = False
V4 = False  # v3 with the per-level kurtogram at 5-smooth band lengths (no one-gather)
V3 = False  # one-gather kurtogram, both envelopes in one batched ifft/rfft, lean OOD score
NB192 = 192
TIMERS = None  # dict name -> list, to time pieces


def _tick(name, t0):
    if TIMERS is not None:
        import time
        t1 = time.process_time_ns()
        TIMERS.setdefault(name, []).append(t1 - t0)
        return t1
    return 0


def _now():
    if TIMERS is not None:
        import time
        return time.process_time_ns()
    return 0


def _levels(nk: int, levels_kept):
    """(bands, level, bins per band) of the kept levels of the 1/2 + 1/3 tree on an nk-point rfft."""
    splits = ((2, 1.0), (3, 1 + math.log2(1.5)), (4, 2.0), (6, 2 + math.log2(1.5)), (8, 3.0))
    return [(div, lev, (nk // 2) // div) for div, lev in splits if round(lev, 3) in levels_kept]


@functools.lru_cache(maxsize=32)
def _plan(n5: int, fs: float, shaft_hz: float, nk: int, levels_kept=None):
    nbins = n5 // 2 + 1
    df = fs / n5
    edges = (np.arange(NB192) * (nbins - 1) // NB192 + 1).astype(np.int64)  # 192 bands above DC
    centre64 = (np.arange(64) + 0.5) * fs / 2 / 64
    ref_sel = (centre64 >= 500.0) & (centre64 <= 0.4 * fs)
    # kurtogram levels on the nk-point spectrum
    dfk = fs / nk
    levels = []
    for div, lev, nb in _levels(nk, levels_kept):
        lo = np.arange(div) * nb * dfk
        levels.append((div, lev, nb, lo, lo + nb * dfk))
    # velocity weights 10-1000 Hz
    k0, k1 = max(int(10 / df) - 1, 0), min(int(1000 / df) + 2, nbins)
    f = np.arange(k0, k1) * df
    w = np.where((f >= 10) & (f <= 1000), (F.G / (2 * np.pi * np.maximum(f, 1e-9))) ** 2, 0.0).astype(np.float32)
    # 1x refinement: bins +-10 % around the 1x line
    b1 = shaft_hz / df
    n0, n1 = int(b1 * 0.9), int(math.ceil(b1 * 1.1)) + 1
    s0, s1 = int(b1 * 0.98), int(math.ceil(b1 * 1.02))
    # speed/fs family: candidate bins
    f_g = shaft_hz
    k_max = min(int(O.SPEED_RANGE[1] * f_g * (O.SPEED_HARMONICS + 0.5) / df) + 2, nbins)
    return dict(edges=edges, ref_sel=ref_sel, levels=levels, vel=(k0, w), one_x=(n0, n1, s0, s1), k_max=k_max, df=df)


@functools.lru_cache(maxsize=32)
def _kgrid(nk: int, fs: float, levels_kept):
    """All bands of the kept levels as rows padded to the widest band (zeros beyond each band's own bins)."""
    dfk = fs / nk
    rows = [(lev, i * nb, nb) for div, lev, nb in _levels(nk, levels_kept) for i in range(div)]
    w = max(nb for _, _, nb in rows)
    idx = np.zeros((len(rows), w), dtype=np.int64)
    mask = np.zeros((len(rows), w), dtype=np.float32)
    for r, (lev, k0, nb) in enumerate(rows):
        idx[r, :nb] = np.arange(k0, k0 + nb)
        mask[r, :nb] = 1.0
    lev = np.array([r[0] for r in rows]); nbs = np.array([r[2] for r in rows], dtype=float)
    lo = np.array([r[1] for r in rows]) * dfk
    return dict(idx=idx, mask=mask, lev=lev, lo=lo, hi=lo + nbs * dfk, w=nbs * dfk, nb=nbs, nbw=float(w),
                wide=(lev >= 1.5) & (lev <= 2.6))


def _band_env_spec(X, k0, nb, n5, ovs, jmax=0):
    m = sfft.next_fast_len(max(ovs * nb, 2 * jmax))
    z = np.zeros(m, dtype=np.complex64)
    z[:nb] = X[k0:k0 + nb]
    c = sfft.ifft(z, overwrite_x=True)
    e = c.real * c.real
    e += c.imag * c.imag
    e -= e.mean()
    E = sfft.rfft(e)
    return E, m


def analyse(x, fs, rpm, geometry):
    t = _now()
    n = len(x)
    n5 = sfft.prev_fast_len(n, real=True)
    x32 = np.asarray(x[:n5], dtype=np.float32)
    x32 = x32 - x32.mean()
    X = sfft.rfft(x32)
    P = X.real * X.real
    P += X.imag * X.imag
    t = _tick("fft", t)
    # indicators (one pass each) + clipping extremes
    s2 = float(np.dot(x32, x32))
    x2 = x32 * x32
    s3 = float(np.dot(x2, x32))
    s4 = float(np.dot(x2, x2))
    hi, lo = float(x32.max()), float(x32.min())
    s_abs = float(np.abs(x32).sum())
    rms = math.sqrt(s2 / n5) + 1e-20
    peak = max(hi, -lo)
    ind = {"rms": rms, "kurtosis": s4 / n5 / rms ** 4, "crest_factor": peak / rms, "skewness": s3 / n5 / rms ** 3,
           "impulse_factor": peak / (s_abs / n5 + 1e-20), "shape_factor": rms / (s_abs / n5 + 1e-20)}
    rng_ = hi - lo
    clip = max(int(np.count_nonzero(x32 >= hi - O.CLIP_TOL * rng_)), int(np.count_nonzero(x32 <= lo + O.CLIP_TOL * rng_))) / n5
    t = _tick("indicators+clip", t)
    shaft0 = rpm / 60.0
    nk = min(KSEG, n5)
    pl = _plan(n5, float(fs), shaft0, nk, LEVELS)
    df = pl["df"]
    # 1x refinement: Hann in the frequency domain on the bins around 1x, quadratic interpolation
    n0, n1, s0, s1 = pl["one_x"]
    seg = X[n0 - 1:n1 + 2]
    hw = np.abs(0.5 * seg[1:-1] - 0.25 * (seg[:-2] + seg[2:]))
    k = s0 + int(np.argmax(hw[s0 - n0:s1 - n0 + 1]))
    bg = (float(np.partition(hw, len(hw) // 2)[len(hw) // 2]) if PART_MEDIAN else float(np.median(hw))) + 1e-30
    shaft = shaft0
    j = k - n0
    if 0 < j < len(hw) - 1 and 20 * math.log10(hw[j] / bg + 1e-30) >= 10.0:
        a_, b_, c_ = np.log(hw[j - 1:j + 2] + 1e-30).tolist()
        d_ = a_ - 2 * b_ + c_
        delta = 0.5 * (a_ - c_) / d_ if d_ != 0 else 0.0
        shaft = (k + min(max(delta, -0.5), 0.5)) * df
    t = _tick("1x", t)
    # band powers (192), usable top, flatness, velocity, low power
    pb = np.add.reduceat(P, pl["edges"])
    p64 = pb.reshape(64, 3).sum(axis=1)
    pr_ = p64[pl["ref_sel"]]
    ref = float(np.partition(pr_, len(pr_) // 2)[len(pr_) // 2]) if PART_MEDIAN else float(np.median(pr_))
    ok = np.flatnonzero(p64 >= ref * 10 ** -2.5)
    f_top = min(float((ok[-1] + 1) * fs / 2 / 64) if len(ok) else fs / 2, 0.49 * fs)
    total = float(pb.sum()) + 1e-30
    flat = float(np.exp(np.mean(np.log(pb + 1e-30))) / (total / NB192))
    kt = int(np.argmax(P[1:])) + 1
    tone = float(P[max(kt - 3, 1):kt + 4].sum()) / total
    k0v, wv = pl["vel"]
    vel = math.sqrt(2.0 * float(np.dot(P[k0v:k0v + len(wv)], wv)) / (n5 * n5)) * 1e3
    t = _tick("bands+checks", t)
    # kurtogram
    Xk = X if nk == n5 else sfft.rfft(x32[:nk])
    best = energy = None
    cand = []
    lim = f_top * 1.02
    min_w = max(F.ORDER_MAX * shaft, 250.0)
    if V3 and not V4:
        kg = _kgrid(nk, float(fs), LEVELS)
        c = sfft.ifft(Xk[kg["idx"]] * kg["mask"], axis=1, overwrite_x=True)
        p = c.real * c.real
        p += c.imag * c.imag
        m2 = p.sum(axis=1)
        sk = np.einsum("ij,ij->i", p, p) * kg["nbw"] / np.maximum(m2 * m2, 1e-30) - 2.0
        ok_b = (kg["hi"] <= lim) & (kg["lo"] >= 250.0) & (kg["w"] >= min_w)
        if not ok_b.any():
            raise ValueError("no band")
        skm = np.where(ok_b, sk, -np.inf)
        ib = int(np.argmax(skm))
        dens = np.where(ok_b & kg["wide"], m2 / kg["nb"], -np.inf)
        ie = int(np.argmax(dens)) if np.isfinite(dens).any() else ib
        best = (float(kg["lev"][ib]), float(kg["lo"][ib]), float(kg["hi"][ib]), float(sk[ib]), 0.0)
        energy = (float(kg["lev"][ie]), float(kg["lo"][ie]), float(kg["hi"][ie]), float(sk[ie]), 0.0)
    for div, lev, nb, blo, bhi in ([] if V3 and not V4 else pl["levels"]):
        if nb * fs / nk < min_w or nb < 4:
            continue
        sel = np.flatnonzero((bhi <= lim) & (blo >= 250.0))
        if not len(sel):
            continue
        if V4:
            c = sfft.ifft(Xk[:div * nb].reshape(div, nb)[sel], n=sfft.next_fast_len(nb), axis=1, overwrite_x=True)
        else:
            c = sfft.ifft(Xk[:div * nb].reshape(div, nb)[sel], axis=1, overwrite_x=True)
        p = c.real * c.real
        p += c.imag * c.imag
        m2 = p.sum(axis=1)
        sk = np.einsum("ij,ij->i", p, p) * p.shape[1] / np.maximum(m2 * m2, 1e-30) - 2.0
        for i, s_, e_ in zip(sel.tolist(), sk.tolist(), (m2 / nb).tolist()):
            cand.append((lev, float(blo[i]), float(bhi[i]), s_, e_))
    if not V3 or V4:
        if not cand:
            raise ValueError("no band")
        best = max(cand, key=lambda r: r[3])
        wide = [r for r in cand if 1.5 <= r[0] <= 2.6] or cand
        energy = max(wide, key=lambda r: r[4])
    t = _tick("kurtogram", t)
    # envelope spectra of both bands from X
    spectra = []
    jmax = int(F.ORDER_MAX * shaft / df) + 3
    if V3:
        ks = [(int(math.ceil(b[1] / df)), max(min(int(b[2] / df), len(X) - 1) - int(math.ceil(b[1] / df)), 1)) for b in (best, energy)]
        m = sfft.next_fast_len(max(OVS * max(nb for _, nb in ks), 2 * jmax))
        z = np.zeros((2, m), dtype=np.complex64)
        for r_, (k0, nb) in enumerate(ks):
            z[r_, :nb] = X[k0:k0 + nb]
        c = sfft.ifft(z, axis=1, overwrite_x=True)
        e = c.real * c.real
        e += c.imag * c.imag
        e -= e.mean(axis=1, keepdims=True)
        EE = sfft.rfft(e, axis=1)
        spectra = [(EE[0], m), (EE[1], m)]
    for lev, flo, fhi, _, _ in (() if V3 else (best, energy)):
        k0 = int(math.ceil(flo / df))
        nb = max(min(int(fhi / df), len(X) - 1) - k0, 1)
        E, m = _band_env_spec(X, k0, nb, n5, OVS, jmax)
        spectra.append((E, m))
    t = _tick("envelopes", t)
    # order axis: envelope bin j is j*fs/n5 Hz (any m): order = j * df / shaft
    n_ord = len(F.ORDER_AXIS)
    rows = np.empty((2, n_ord))
    src = np.arange(jmax) * (df / shaft)
    if V3:
        a2 = np.abs(EE[:, :jmax])
        rows[0] = np.interp(F.ORDER_AXIS, src, a2[0], right=0.0)
        rows[1] = np.interp(F.ORDER_AXIS, src, a2[1], right=0.0)
    for r, (E, m) in enumerate(() if V3 else spectra):
        a = np.abs(E[:jmax])
        rows[r] = np.interp(F.ORDER_AXIS, src, a, right=0.0)
    env_raw = rows[0] * (2.0 / spectra[0][1])
    blk = rows[:, : (n_ord // 32) * 32].reshape(2, -1, 32)
    if PART_MEDIAN:
        pp = np.partition(blk, (15, 16), axis=2)
        bgm = 0.5 * (pp[:, :, 15] + pp[:, :, 16])
    else:
        bgm = np.median(blk, axis=2)
    bgm = np.maximum(bgm, 1e-30)
    lin = rows / bgm[:, np.minimum(np.arange(n_ord) // 32, bgm.shape[1] - 1)]
    lin[:, :2] = 0.0
    both = np.log1p(lin)
    t = _tick("order axis+bg", t)
    kin, ref_orders, heights = F.refine_hypotheses(lin[0] + lin[1], geometry=geometry)
    refined = dict(zip(F.HYPOTHESES, ref_orders.tolist()))
    t = _tick("slip search", t)
    feats = F._fault_views_into(both, tuple(ref_orders.tolist()))
    t = _tick("views", t)
    # ACF of the energy band's squared envelope (circular) from its spectrum
    E, m = spectra[1]
    env_fs = m * df
    v = rolling_speed_m_s(geometry=geometry, shaft_hz=shaft)
    max_lag = min(int(F.SIZE_AXIS_MAX_MM * 1e-3 / v * env_fs) + 2, m // 2)
    pw = E.real * E.real
    pw += E.imag * E.imag
    r = sfft.irfft(pw, n=m)[:max_lag]
    acf = 4.0 * np.interp(F.SIZE_AXIS_MM, np.arange(max_lag) / env_fs * v * 1e3, r / r[0], right=0.0) if r[0] > 0 else np.zeros(F.N_BINS)
    t = _tick("acf", t)
    bestB = Band(best[0], best[1], best[2], best[3])
    kb0 = int(best[1] / df)
    band_power = float(P[kb0:int(best[2] / df)].sum()) / total
    low_power = float(P[1:int(1000.0 / df) + 1].sum()) / total
    slips = [o_r / o - 1.0 for o_r, o in zip(ref_orders.tolist(), kin.tolist())]
    scal = [math.log2(max(f_top, 1.0) / (fs / 2)), math.log(ind["kurtosis"]), math.log(ind["crest_factor"]),
            min(max(ind["skewness"], -5.0), 5.0) / 5.0, math.log(ind["impulse_factor"]), math.log(ind["shape_factor"]),
            math.log1p(max(best[3], 0.0)), bestB.centre_hz / (fs / 2), math.log2(bestB.width_hz / (fs / 2)) / F.MAX_LEVEL,
            math.log10(rpm / 1800.0), math.log10(fs / 24000.0), math.log10(band_power + 1e-12), math.log10(low_power + 1e-12),
            float(both[0, 8:].max()) / 5.0, geometry.n_elements / 10.0, geometry.diameter_ratio * 3.0,
            *[50.0 * s_ for s_ in slips]]
    feats[-2] = acf
    feats[-1, : len(scal)] = scal
    below = np.flatnonzero(acf < 4.0 * math.exp(-1.0))
    ring = float((F.SIZE_AXIS_MM[below[0]] if len(below) else F.SIZE_AXIS_MAX_MM) * 1e-3 / v)
    t = _tick("scalars+acf", t)
    a = F.WindowAnalysis(feats, bestB, None, None, ind, vel, energy=Band(*energy[:4]), usable_top_hz=f_top,
                         spec_band=lin[0], spec_energy=lin[1], refined_orders=refined, ringdown_s=ring, wide=Band(*energy[:4]))
    a.env_order = env_raw
    a.heights = heights
    a.kin = kin
    a.P = P
    a.shaft = shaft
    a.n5 = n5
    a.checks = dict(clip=clip, flat=flat, tone=tone, tone_hz=kt * df)
    return a


def evidence_one(a, geometry):
    """line_evidence of one window from its own slip search (spec / 2: heights / 2)."""
    out = {}
    db = D.line_db(a.heights / 2.0)
    spec = (a.spec_band + a.spec_energy) / 2.0
    for h, o, o_ref, d in zip(F.HYPOTHESES, a.kin.tolist(), [a.refined_orders[h] for h in F.HYPOTHESES], db.tolist()):
        out[h] = {"order": round(o_ref, 4), "slip": round(o_ref / o - 1.0, 4), "lines_db": [round(v_, 1) for v_ in d],
                  "gate_db": round(D.gate_score(d, order=o_ref, n_bins=len(spec)), 1)}
    out["ball"]["ftf_sidebands_db"] = round(D.sideband_db(spec, order=out["ball"]["order"], spacing=out["cage"]["order"]), 1)
    return out


def speed_family(P, fs, n5, rpm, geometry, k_max):
    df = fs / n5
    f_g = rpm / 60.0
    spec = P[:k_max].astype(np.float64)
    db = 10.0 * np.log10(spec + 1e-30 * (spec.max() + 1e-300))
    half = max(int(0.25 * f_g / df), 5)
    if LEAN_SPEED:  # block medians (blocks of 2 half + 1 bins) instead of a running median; +-1-bin max by shifts
        bl = 2 * half + 1
        nbk = len(db) // bl
        bm = np.partition(db[: nbk * bl].reshape(nbk, bl), half, axis=1)[:, half]
        bg = bm[np.minimum(np.arange(len(db)) // bl, nbk - 1)]
    else:
        bg = O._running(db, half, np.median)
    h = np.clip(db - bg, 0.0, 40.0)
    ratios = O._ratios()
    halves, idx = O._family_plan(f_g, df, len(h))
    if LEAN_SPEED and len(set(halves)) == 1 and halves[0] == 1:
        mx = h.copy()
        np.maximum(mx[1:], h[:-1], out=mx[1:])
        np.maximum(mx[:-1], h[1:], out=mx[:-1])
        heights = mx[idx]
    elif len(set(halves)) == 1:
        heights = O._running(h, halves[0], np.max)[idx]
    else:
        peaks = {half: O._running(h, half, np.max) for half in set(halves)}
        heights = np.stack([peaks[half][i] for half, i in zip(halves, idx)])
    low = np.sort(heights.T, axis=1)
    score = (low[:, 0] + low[:, 1] + low[:, 2]) / 3
    near = np.abs(ratios - 1.0) <= O.SPEED_AGREE
    s_given = float(score[near].max())
    other = np.where(near | O._explained(ratios, geometry), -np.inf, score)
    i = int(np.argmax(other))
    s_other = float(score[i])
    margin = float(D.calibration().get("speed_margin_db", O.SPEED_MARGIN_DB))
    return {"given_rpm": round(float(rpm), 1), "family_at_given_db": round(s_given, 1),
            "best_other_rpm": round(float(ratios[i]) * rpm, 1), "family_at_other_db": round(s_other, 1),
            "margin_db": round(margin, 1), "disagrees": bool(s_other - s_given >= margin)}


_VR = np.array([i * F.N_VC + c for i in range(4) for c in (0, 1)])


def lean_score(x):
    med, mad, prec, q, flag_d = O._shipped()
    u = x[_VR, 32:224]
    pp = np.partition(u, (95, 96), axis=1)
    f = np.empty(len(F.SCALARS) + 17)
    f[:len(F.SCALARS)] = x[-1, :len(F.SCALARS)]
    f[len(F.SCALARS):-1:2] = u.max(axis=1)
    f[len(F.SCALARS) + 1:-1:2] = 0.5 * (pp[:, 95] + pp[:, 96])
    f[-1] = x[-2, :64].mean(dtype=np.float64)
    z = (f[O.KEEP] - med) / mad
    z[O.CENSOR] = np.minimum(z[O.CENSOR], 0.0)
    d = math.sqrt(max(float(z @ prec @ z), 0.0))
    frac = float(np.interp(d, q, np.linspace(0, 1, len(q)), left=0.0, right=1.0))
    return {"score": round(frac, 3), "distance": round(d, 2), "flag_distance": round(flag_d, 2), "flag": bool(d >= flag_d)}


def predict(rec, runner):
    """Lean whole path for a one-window recording (the five measured points)."""
    from edgeinv.apps.bearing_wear.io import Recording  # noqa
    a = analyse(rec.signal, rec.fs_hz, rec.rpm, rec.geometry)
    t = _now()
    out = runner(a.x[None])
    t = _tick("model", t)
    rpm = a.shaft * 60.0
    ood = lean_score(a.x) if V3 else O.score(a.x[None])
    c = a.checks
    ood["checks"] = {"clipping": {"value": round(c["clip"], 5), "limit": O.CLIP_FRACTION, "failed": c["clip"] >= O.CLIP_FRACTION},
                     "flat_spectrum": {"value": round(c["flat"], 3), "limit": O.FLATNESS_MAX, "failed": c["flat"] >= O.FLATNESS_MAX},
                     "single_tone": {"value": round(c["tone"], 3), "limit": O.TONE_SHARE, "failed": c["tone"] >= O.TONE_SHARE}}
    t = _tick("ood score+checks", t)
    failed = [k for k, v in ood["checks"].items() if v["failed"]]
    if not failed:
        ood["speed_check"] = speed_family(a.P, rec.fs_hz, a.n5, rpm, rec.geometry, _plan(a.n5, float(rec.fs_hz), rec.rpm / 60.0, min(KSEG, a.n5), LEVELS)["k_max"])
    t = _tick("speed check", t)
    flag = bool(ood["flag"]) or bool(failed) or bool(ood.get("speed_check", {}).get("disagrees"))
    ood["flag"], ood["reasons"] = flag, failed
    ood["text"] = "unlike" if flag else f"within the training range ({ood['score']:.0%} of training windows are closer)"
    import dataclasses
    sample = dataclasses.replace(rec, rpm=rpm)
    checks = {"evidence": evidence_one(a, rec.geometry), "ood": ood, "acf": a.x[-2].astype(float) / 4.0,
              "resolvability": D.size_resolvability(geometry=rec.geometry, rpm=rpm, fs_hz=rec.fs_hz, ringdown_s=a.ringdown_s,
                                                    scale_known=True),
              "usable_top_hz": a.usable_top_hz, "indicators": recording_indicators(a.indicators)}
    t = _tick("evidence+resolv", t)
    env = {"order": F.ORDER_AXIS.tolist(), "amplitude": a.env_order.tolist(), "shaft_hz": a.shaft,
           "band_hz": [[a.band.f_lo_hz, a.band.f_hi_hz]]}
    per_window = [{k: np.asarray(v)[0] for k, v in out.items()}]
    res = combine(per_window, sample, velocity_rms_mm_s=a.velocity_rms_mm_s, envelope=env, checks=checks,
                  speed={"rpm_given": rec.rpm, "rpm_refined": round(rpm, 2), "rpm_source": "1x line"},
                  indicators=checks["indicators"])
    _tick("combine", t)
    return res
