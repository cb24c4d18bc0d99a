"""What limits N per area on a labelled real table, measured: ``edgeinv leaf-nitrogen diagnose-real [TABLE]``.

Per species (training side; it reads the table's labels, so it builds nothing that zero-shot uses):

* **labels**: N per area range and spread, and how much of it comes with leaf mass (r² with LMA):
  where N per area follows LMA, dry-matter absorption carries it; where it does not, only the protein
  features can;
* **empirical ceiling**: a PLSR on the species' *own* leaves (log 1/R at 10 nm, components chosen by an
  inner leave-one-out, scored by an outer leave-one-out) — what the spectra carry with labels;
* **physics ceiling**: the nearest PROSPECT-PRO leaf with the *measured* chemistry (protein from N
  through the factor, CBC = LMA − protein, EWT from the water; the structure parameter fitted over the
  NIR and SWIR windows, pigments over 500–750 nm) plus measurement noise (the spectrum's own SWIR
  noise per band, a 1 % gain and a 0.002 offset per spectrum), inverted by the edge path's physics
  inversion (:func:`hybrid.physics_estimate`): R² if PROSPECT-PRO were right;
* **the mismatch** ``real − nearest model``: the same inversion on the model spectra plus the
  species' mean mismatch (→ the bias it explains) and plus another leaf's mismatch of the same
  species (→ the scatter the leaf-to-leaf mismatch alone causes), next to the real spectra;
* the best any per-species linear recalibration of the physics estimate could reach (r²), and the
  correlation of its error with the water/dry-mass ratio and the carbon share of dry mass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeinv.common.errors import InvalidInputError

from .baseline import least_squares
from .hybrid import physics_estimate, swir_noise
from .io import LeafSpectrum
from .loso import pls_choose, pls_fit, pls_predict
from .physics import optical_constants, prospect_pro
from .realdata import _clean, _metrics, read_table

STRUCTURE_WINDOWS_NM = ((800, 1300), (1500, 1800), (2050, 2400))
PIGMENT_WINDOW_NM = (500, 750)
GAIN_SD, OFFSET_SD, NOISE_FLOOR = 0.01, 0.002, 1e-4
PLS_STEP_NM, PLS_MAX = 10.0, 8
SEED = 14


def chemistry(entry: dict, factor: float) -> dict | None:
    """Measured chemistry as PROSPECT-PRO inputs (g/cm²); None without LMA and water."""
    if not entry.get("lma_g_m2") or not entry.get("h2o_g_m2"):
        return None
    prot = entry["n_g_m2"] * factor / 1e4
    return {"protein_g_cm2": prot, "cbc_g_cm2": max(entry["lma_g_m2"] / 1e4 - prot, 1e-5),
            "ewt_g_cm2": entry["h2o_g_m2"] / 1e4}


def nearest_model(wavelength_nm, reflectance, chem: dict) -> tuple[np.ndarray, dict]:
    """PROSPECT-PRO with the measured chemistry closest to a measured leaf: N, then pigments, fitted."""
    wl = np.asarray(wavelength_nm, float)
    dom = np.concatenate([np.arange(a, b + 1.0) for a, b in STRUCTURE_WINDOWS_NM if wl[0] <= a and wl[-1] >= b])
    const = optical_constants().subset(dom)
    r_d = np.interp(dom, wl, reflectance)
    n = float(least_squares(lambda x: prospect_pro(constants=const, n_struct=x[0], chlorophyll_ug_cm2=0.0, **chem)[1]
                            - r_d, [1.5], bounds=([1.0], [4.0])).x[0])
    lo, hi = max(PIGMENT_WINDOW_NM[0], wl[0]), PIGMENT_WINDOW_NM[1]
    vis = np.arange(lo, hi + 1.0)
    cv = optical_constants().subset(vis)
    r_v = np.interp(vis, wl, reflectance)
    sol = least_squares(lambda x: prospect_pro(constants=cv, n_struct=n, chlorophyll_ug_cm2=10 * x[0],
                                               carotenoid_ug_cm2=2 * x[1], anthocyanin_ug_cm2=x[2], **chem)[1] - r_v,
                        [4.0, 4.0, 0.1], bounds=([0, 0, 0], [15, 12, 20]))
    pig = {"chlorophyll_ug_cm2": 10 * sol.x[0], "carotenoid_ug_cm2": 2 * sol.x[1], "anthocyanin_ug_cm2": sol.x[2]}
    _, r, _ = prospect_pro(n_struct=n, wavelength_nm=wl, **pig, **chem)
    return r, {"n_struct": n, **pig}


def _invert_n(wl, spectra, factor) -> np.ndarray:
    out = []
    for r in spectra:
        est = physics_estimate(LeafSpectrum(sample="d", wavelength_nm=wl, reflectance=np.clip(r, 1e-4, 0.99),
                                            source="diagnose", meta={}))
        out.append(est.get("protein_g_cm2", np.nan) * 1e4 / factor)
    return np.array(out)


def _nested_loo_pls(x, y) -> np.ndarray:
    pred = np.zeros_like(y)
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        a = pls_choose(x[keep], y[keep], PLS_MAX)
        pred[i] = pls_predict(pls_fit(x[keep], y[keep], a), x[i:i + 1])[0]
    return pred


def _corr(a, b) -> float | None:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 and np.std(a[ok]) > 0 and np.std(b[ok]) > 0 else None


def diagnose(table_path, *, n_to_protein: float, progress: bool = False) -> dict:
    table_path = Path(table_path)
    table = read_table(table_path) if table_path.is_file() else None
    if table is None:
        raise InvalidInputError(f"{table_path}: not a labelled table (Wave_<nm> columns + N_g_m2)")
    table = [t for t in table if chemistry(t, n_to_protein) is not None]
    if len(table) < 6:
        raise InvalidInputError(f"{table_path.name}: the diagnosis needs N_g_m2, LMA_g_m2 and H20_g_m2 on at least "
                                f"6 leaves, found {len(table)}")
    wl = table[0]["leaf"].wavelength_nm
    real = np.stack([t["leaf"].reflectance for t in table])
    sp = np.array([t["species"] for t in table])
    n = np.array([t["n_g_m2"] for t in table])
    lma = np.array([t["lma_g_m2"] for t in table])
    h2o = np.array([t["h2o_g_m2"] for t in table])
    carbon = np.array([t.get("c_g_m2") or np.nan for t in table])
    model, fitted = [], []
    for i, t in enumerate(table):
        r, p = nearest_model(wl, real[i], chemistry(t, n_to_protein))
        model.append(r)
        fitted.append(p)
    model = np.stack(model)
    mismatch = real - model
    rng = np.random.default_rng(SEED)
    noise = np.array([max(swir_noise(wavelength_nm=wl, reflectance=r) or 0.0, NOISE_FLOOR) for r in real])
    noisy = (model * (1 + GAIN_SD * rng.standard_normal((len(model), 1))) + OFFSET_SD * rng.standard_normal((len(model), 1))
             + noise[:, None] * rng.standard_normal(model.shape))
    other = np.arange(len(table))
    species_mean = np.zeros_like(mismatch)
    for s in np.unique(sp):
        ix = np.where(sp == s)[0]
        other[ix] = np.roll(ix, 1)
        species_mean[ix] = mismatch[ix].mean(axis=0)
    sets = {"perfect_physics": noisy, "model_plus_species_mean_mismatch": model + species_mean,
            "model_plus_other_leaf_mismatch": model + mismatch[other], "real": real}
    est = {}
    for name, spectra in sets.items():
        est[name] = _invert_n(wl, spectra, n_to_protein)
        if progress:
            import sys

            print(f"leaf-nitrogen diagnose-real: inverted {name}", file=sys.stderr, flush=True)
    grid = np.arange(np.ceil(wl[0] / PLS_STEP_NM) * PLS_STEP_NM, wl[-1] + 1e-9, PLS_STEP_NM)
    x_pls = np.log(1.0 / np.clip(np.stack([np.interp(grid, wl, r) for r in real]), 1e-4, None))
    bands = {"750-1000": (750, 1000), "1300-1850": (1300, 1850), "1850-2100": (1850, 2100),
             "2100-2180 (protein)": (2100, 2180), "2180-2400": (2180, 2400)}
    species = {}
    for s in np.unique(sp):
        m = sp == s
        d = {"n": int(m.sum()), "n_range_g_m2": [float(n[m].min()), float(n[m].max())], "n_sd_g_m2": float(n[m].std()),
             "n_cv": float(n[m].std() / n[m].mean()), "r2_n_with_lma": (_corr(n[m], lma[m]) or 0.0) ** 2,
             "water_per_dry_mass": float(np.mean(h2o[m] / lma[m])),
             "structure_n_fitted": float(np.mean([fitted[i]["n_struct"] for i in np.where(m)[0]])),
             "pls_own_leaves_n": _metrics(_nested_loo_pls(x_pls[m], n[m]), n[m]),
             "pls_own_leaves_lma": _metrics(_nested_loo_pls(x_pls[m], lma[m]), lma[m])}
        for name in sets:
            d[name] = _metrics(est[name][m], n[m])
        d["best_linear_recalibration_r2"] = (_corr(est["real"][m], n[m]) or 0.0) ** 2
        err = est["real"][m] - n[m]
        d["error_corr_water_per_dry"] = _corr(err, h2o[m] / lma[m])
        d["error_corr_carbon_share"] = _corr(err, carbon[m] / lma[m])
        d["mismatch_by_band"] = {b: {"mean": float(mismatch[m][:, (wl >= lo) & (wl <= hi)].mean()),
                                     "leaf_sd": float(mismatch[m][:, (wl >= lo) & (wl <= hi)].mean(axis=1).std())}
                                 for b, (lo, hi) in bands.items() if wl[0] <= lo and wl[-1] >= hi}
        species[s] = d
    report = {"table": str(table_path), "n_to_protein": n_to_protein, "species": species,
              "noise": {"gain_sd": GAIN_SD, "offset_sd": OFFSET_SD, "swir_noise_median": float(np.median(noise))}}
    report["text"] = _text(report)
    return _clean(report)


def _text(r: dict) -> str:
    def m(d):
        return f"{d['r2']:+.2f} / {d['nrmse']:.3f} / {d['bias']:+.2f}"

    lines = [f"what limits N per area, per species ({Path(r['table']).name}; factor {r['n_to_protein']:g}); "
             "cells: R2 / NRMSE / bias g/m2 unless said"]
    rows = (("N range g/m2 (sd; r2 with LMA)", lambda d: f"{d['n_range_g_m2'][0]:.2f}-{d['n_range_g_m2'][1]:.2f} "
             f"({d['n_sd_g_m2']:.2f}; {d['r2_n_with_lma']:.2f})"),
            ("PLSR on own leaves, N (nested LOO)", lambda d: m(d["pls_own_leaves_n"])),
            ("PLSR on own leaves, LMA (R2)", lambda d: f"{d['pls_own_leaves_lma']['r2']:+.2f}"),
            ("physics ceiling (PROSPECT-PRO right)", lambda d: m(d["perfect_physics"])),
            ("  + species-mean mismatch", lambda d: m(d["model_plus_species_mean_mismatch"])),
            ("  + another leaf's mismatch", lambda d: m(d["model_plus_other_leaf_mismatch"])),
            ("real spectra (physics inversion)", lambda d: m(d["real"])),
            ("best per-species linear recal. (r2)", lambda d: f"{d['best_linear_recalibration_r2']:.2f}"),
            ("error corr: water/dry, C share", lambda d: " , ".join(
                "-" if v is None else f"{v:+.2f}" for v in (d["error_corr_water_per_dry"], d["error_corr_carbon_share"]))),
            ("water / dry mass; fitted N struct", lambda d: f"{d['water_per_dry_mass']:.2f}; {d['structure_n_fitted']:.2f}"))
    names = list(r["species"])
    lines.append(f"{'':<38}" + "".join(f"| {s:>22} " for s in names))
    for title, cell in rows:
        lines.append(f"{title:<38}" + "".join(f"| {cell(r['species'][s]):>22} " for s in names))
    lines.append("mismatch real - nearest model (mean, leaf-to-leaf sd), reflectance:")
    for b in next(iter(r["species"].values()))["mismatch_by_band"]:
        lines.append(f"  {b:<36}" + "".join(
            f"| {r['species'][s]['mismatch_by_band'][b]['mean']:>+9.4f} {r['species'][s]['mismatch_by_band'][b]['leaf_sd']:>7.4f}    "
            for s in names))
    return "\n".join(lines)
