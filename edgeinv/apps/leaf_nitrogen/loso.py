"""Leave-one-species-out calibration on a labelled table: ``edgeinv leaf-nitrogen loso [TABLE]`` (training side).

For every species (group) of a labelled EcoSIS-layout table (:func:`realdata.read_table`), the other
species are the user's "own leaves" and the held-out species is new. Side by side, N per area on the
held-out species (NRMSE = RMSE / range of its measured N, R², bias):

* **network before / after**: the core calibration path (:func:`edgeinv.common.calibrate.calibrate`
  with ``holdout_group`` = the species; the shipped teacher fine-tuned on the other species' leaves,
  a quarter of them for early stopping) — the figures of its own report;
* **PLSR** on the same split: partial least squares on reflectance (10 nm, the table's range),
  1-10 components chosen by leave-one-out on the training species (:func:`pls_fit`, numpy NIPALS);
  the published study's method, as the yardstick;
* **hybrid zero-shot**: the shipped edge path with no labels (:func:`realdata.evaluate_real`);
* **hybrid + linear**: the hybrid's N corrected by ``a + b N`` fitted on the training species — the
  simplest calibration of the physics estimate;
* **hybrid × scale**, **network × scale**: one factor through the origin on the zero-shot hybrid's or
  network's N, fitted on the training species — the simplest calibration there is (equivalent to
  calibrating the N-to-protein factor).

Nothing is chosen on the held-out species.

**Own-species leaves** (issue 14; :func:`own_species`): what a user does who labels k leaves of the species they
measure. For k in :data:`OWN_K`, :data:`OWN_DRAWS` random draws of k leaves of the species: the zero-shot hybrid's N
times one factor fitted on those k leaves (that species' N-to-protein factor), and a PLSR fitted on the other
species plus those k leaves, and on the first :data:`OWN_NETWORK_DRAWS` of the same draws the core calibration
of the network on the other species plus those k leaves (the rest of the species held out as its own group), all
scored on the species' remaining leaves (median R² / NRMSE over the draws). The report says how many own leaves
each species needed to reach R² >= :data:`GOAL_R2_LOSO` (median, by the best method), or that none of the k tried
did. More network draws: ``docs/apps/leaf_nitrogen_trials/kshot_net.py``.

**Ceiling** (issue 14, stop 24; :func:`ceiling`, also ``--ceiling-only`` and in ``evaluate-real``): per species, what its
own leaves can tell about its N at all -- own-species PLSR and the zero-shot N linearly recalibrated, both
cross-validated on that species alone with everything (components, coefficients) fitted inside the folds -- and the
labels' range and spread: whether R² >= :data:`GOAL_R2_LOSO` is attainable from the data before asking it of a
calibration on other species.
"""

from __future__ import annotations

import tempfile
import zlib
from pathlib import Path

import numpy as np

from edgeinv.common.errors import InvalidInputError

from .finetune import EPOCHS
from .realdata import SPECIES_COLUMNS, _clean, _metrics, evaluate_real, read_table

PLS_MAX_COMPONENTS = 10
PLS_STEP_NM = 10.0
GOAL_R2_LOSO = 0.75
OWN_K = (3, 5)
OWN_DRAWS = 20
OWN_NETWORK_DRAWS = 2  # the core calibration per (species, k): about a minute each on a loaded 2-core box


def pls_path(x: np.ndarray, y: np.ndarray, max_components: int) -> tuple[np.ndarray, float, np.ndarray]:
    """PLS1 by NIPALS for 1..``max_components`` components at once: ``(coefficients [a, bands], y mean, x mean)``,
    row ``a - 1`` the model with ``a`` components (NIPALS' first ``a`` components do not depend on how many follow,
    so each row equals a fit with exactly ``a``). Fewer rows when the residual carries nothing more."""
    xm, ym = x.mean(axis=0), float(y.mean())
    xr, yr = x - xm, y - ym
    w_all, p_all, q_all, coefs = [], [], [], []
    for _ in range(max_components):
        w = xr.T @ yr
        norm = np.linalg.norm(w)
        if norm < 1e-12:
            break
        w /= norm
        t = xr @ w
        tt = float(t @ t)
        p = xr.T @ t / tt
        q = float(yr @ t) / tt
        xr = xr - np.outer(t, p)
        yr = yr - q * t
        w_all.append(w)
        p_all.append(p)
        q_all.append(q)
        wa, pa = np.array(w_all).T, np.array(p_all).T
        coefs.append(wa @ np.linalg.solve(pa.T @ wa, np.array(q_all)))
    if not coefs:
        coefs.append(np.zeros(x.shape[1]))
    return np.array(coefs), ym, xm


def pls_fit(x: np.ndarray, y: np.ndarray, n_components: int) -> tuple[np.ndarray, float, np.ndarray]:
    """PLS1 by NIPALS: ``(coefficients, y mean, x mean)`` so that ``y ≈ y_mean + (x - x_mean) @ coef``."""
    coefs, ym, xm = pls_path(x, y, n_components)
    return coefs[-1], ym, xm


def pls_predict(model, x: np.ndarray) -> np.ndarray:
    coef, ym, xm = model
    return ym + (x - xm) @ coef


def pls_choose(x: np.ndarray, y: np.ndarray, max_components: int = PLS_MAX_COMPONENTS) -> int:
    """Number of components with the lowest leave-one-out RMSE on the training leaves."""
    top = min(max_components, len(y) - 2)
    press = np.zeros(top)
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        coefs, ym, xm = pls_path(x[keep], y[keep], top)
        pred = ym + (x[i] - xm) @ coefs.T  # one prediction per number of components
        pred = np.concatenate([pred, np.full(top - len(pred), pred[-1])])
        press += (pred - y[i]) ** 2
    return int(np.argmin(press)) + 1


def _pls_inputs(leaves) -> np.ndarray:
    wl = leaves[0].wavelength_nm
    grid = np.arange(np.ceil(wl[0] / PLS_STEP_NM) * PLS_STEP_NM, wl[-1] + 1e-9, PLS_STEP_NM)
    return np.stack([np.interp(grid, leaf.wavelength_nm, leaf.reflectance) for leaf in leaves])


def own_species(x_pls: np.ndarray, n_est: np.ndarray, n_true: np.ndarray, sp: np.ndarray, *, ks=OWN_K,
                draws: int = OWN_DRAWS, seed: int = 0, network=None, network_draws: int = 0) -> dict:
    """Calibration with k leaves of the species itself (module docstring): ``{species: {k: {method: metrics}},
    "needed": {species: k or None}}``; ``metrics`` = median ``r2`` / ``nrmse`` over the draws, ``share_goal`` the
    share of draws with R² >= :data:`GOAL_R2_LOSO`. ``network(species, k, draw, cal, test)`` -> metrics of the core
    calibration on the other species + ``cal``, scored on ``test``: run on the first ``network_draws`` draws (paired)."""
    rng = np.random.default_rng(seed)
    out, needed = {}, {}
    for s in sorted(set(sp)):
        own = np.flatnonzero(sp == s)
        out[s], needed[s] = {}, None
        for k in ks:
            if len(own) - k < 3:
                continue
            scores = {"hybrid_own_scale": [], "pls": [], **({"network_calibrated": []} if network else {})}
            for j in range(draws):
                cal = rng.choice(own, k, replace=False)
                test = np.setdiff1d(own, cal)
                fit = cal[np.isfinite(n_est[cal])]
                c = float(np.sum(n_est[fit] * n_true[fit]) / np.sum(n_est[fit] ** 2)) if len(fit) else 1.0
                scores["hybrid_own_scale"].append(_metrics(c * n_est[test], n_true[test]))
                tr = np.concatenate([np.flatnonzero(sp != s), cal])
                pls = pls_predict(pls_fit(x_pls[tr], n_true[tr], pls_choose(x_pls[tr], n_true[tr])), x_pls[test])
                scores["pls"].append(_metrics(pls, n_true[test]))
                if network and j < network_draws:
                    scores["network_calibrated"].append(network(s, k, j, cal, test))
            out[s][k] = {m: {"r2": float(np.median([v["r2"] for v in vals])),
                             "nrmse": float(np.median([v["nrmse"] for v in vals])),
                             "share_goal": float(np.mean([v["r2"] >= GOAL_R2_LOSO for v in vals])), "draws": len(vals)}
                         for m, vals in scores.items() if vals}
            if needed[s] is None and max(d["r2"] for d in out[s][k].values()) >= GOAL_R2_LOSO:
                needed[s] = int(k)
    return {"by_species": out, "needed": needed, "ks": list(ks), "draws": draws, "goal_r2": GOAL_R2_LOSO}


CEILING_FOLDS = 5
CEILING_REPEATS = 20
CEILING_MAX_COMPONENTS = 8
CEILING_MIN_LEAVES = 8


def _cv_splits(n: int, rng: np.random.Generator, folds: int, repeats: int) -> list[list[np.ndarray]]:
    """``[[test indices of each fold] for each repeat]``: repeated shuffled k-fold; the last "repeat" is LOO."""
    out = [np.array_split(rng.permutation(n), min(folds, n)) for _ in range(repeats)]
    return out + [[np.array([i]) for i in range(n)]]


def _cv_scores(preds: list[np.ndarray], y: np.ndarray) -> dict:
    """R² / NRMSE of pooled out-of-fold predictions: LOO (the last entry), and median and 10-90 % of the repeats."""
    m = [_metrics(p, y) for p in preds]
    r2 = np.array([v["r2"] for v in m[:-1]])
    return {"loo_r2": m[-1]["r2"], "loo_nrmse": m[-1]["nrmse"], "kfold_r2_median": float(np.median(r2)),
            "kfold_r2_p10": float(np.percentile(r2, 10)), "kfold_r2_p90": float(np.percentile(r2, 90)),
            "kfold_nrmse_median": float(np.median([v["nrmse"] for v in m[:-1]]))}


def _cv_predict(splits, y: np.ndarray, fit_predict) -> list[np.ndarray]:
    preds = []
    for folds in splits:
        p = np.full(len(y), np.nan)
        for test in folds:
            train = np.setdiff1d(np.arange(len(y)), test)
            p[test] = fit_predict(train, test)
        preds.append(p)
    return preds


def ceiling(x_pls: np.ndarray, n_est: np.ndarray, n_true: np.ndarray, sp: np.ndarray, *, lma=None, seed: int = 0,
            folds: int = CEILING_FOLDS, repeats: int = CEILING_REPEATS) -> dict:
    """What each species' spectra can tell about its N at all, from its own leaves only (issue 14).

    Per species: the labels (range, sd, r with LMA); a PLSR on the species' own leaves (reflectance at 10 nm and
    log 1/R), cross-validated with the number of components (1-:data:`CEILING_MAX_COMPONENTS`) chosen by
    leave-one-out *inside* each training fold; and the app's zero-shot N through a linear recalibration
    ``a + b N`` fitted inside each training fold. Both scored on pooled out-of-fold predictions, by leave-one-out
    and by ``repeats`` shuffled ``folds``-fold splits (median and 10-90 % of the repeats; the same splits for both).
    ``attainable``: whether the best of them by leave-one-out (the most generous: most training leaves) reaches
    R² >= :data:`GOAL_R2_LOSO` with the species' *own* labels -- if not, a calibration that has never seen the species
    cannot be expected to; ``attainable_kfold``: the same by the k-fold median (methods picked after the fact, so both
    are optimistic).
    """
    out = {}
    for s in sorted(set(sp)):
        rng = np.random.default_rng([seed, zlib.crc32(str(s).encode())])  # the same splits however the table is cut
        ix = np.flatnonzero(sp == s)
        y = n_true[ix]
        d = {"n": int(len(ix)), "n_range_g_m2": [float(y.min()), float(y.max())], "n_sd_g_m2": float(y.std(ddof=1)),
             "n_mean_g_m2": float(y.mean())}
        if lma is not None and np.isfinite(lma[ix]).sum() > 2:
            ok = np.isfinite(lma[ix])
            d["r_n_lma"] = float(np.corrcoef(y[ok], lma[ix][ok])[0, 1])
        if len(ix) < CEILING_MIN_LEAVES:
            d["note"] = f"fewer than {CEILING_MIN_LEAVES} leaves: no cross-validated ceiling"
            out[s] = d
            continue
        splits = _cv_splits(len(ix), rng, folds, repeats)
        for name, x in (("pls_reflectance", x_pls[ix]), ("pls_log_1_r", np.log(1.0 / np.clip(x_pls[ix], 1e-4, None)))):
            chosen = []

            def pls_fp(train, test, x=x, chosen=chosen):
                a = pls_choose(x[train], y[train], CEILING_MAX_COMPONENTS)
                chosen.append(a)
                return pls_predict(pls_fit(x[train], y[train], a), x[test])

            d[name] = {**_cv_scores(_cv_predict(splits, y, pls_fp), y),
                       "components_median": float(np.median(chosen))}
        est = n_est[ix]
        if np.isfinite(est).all() and np.std(est) > 0:
            def lin_fp(train, test):
                b, a = np.polyfit(est[train], y[train], 1)
                return a + b * est[test]

            d["app_linear_cv"] = _cv_scores(_cv_predict(splits, y, lin_fp), y)
            d["app_linear_in_sample_r2"] = float(np.corrcoef(est, y)[0, 1] ** 2)
        methods = [k for k in ("pls_reflectance", "pls_log_1_r", "app_linear_cv") if k in d]
        d["best_own_r2_loo"] = float(max(d[k]["loo_r2"] for k in methods))
        d["best_own_r2_kfold"] = float(max(d[k]["kfold_r2_median"] for k in methods))
        d["attainable"] = bool(d["best_own_r2_loo"] >= GOAL_R2_LOSO)
        d["attainable_kfold"] = bool(d["best_own_r2_kfold"] >= GOAL_R2_LOSO)
        out[s] = d
    return {"by_species": out, "folds": folds, "repeats": repeats, "max_components": CEILING_MAX_COMPONENTS,
            "goal_r2": GOAL_R2_LOSO, "seed": seed}


def ceiling_text(c: dict) -> list[str]:
    lines = [f"ceiling: what each species' own leaves can tell about its N (cross-validated on that species only; "
             f"LOO and {c['repeats']}x {c['folds']}-fold: median [10-90 %]; PLSR components 1-{c['max_components']} "
             f"chosen inside each fold; app x linear: a + b N fitted inside each fold)"]
    for s, d in c["by_species"].items():
        head = (f"  {s:<8} n {d['n']:>2}, N {d['n_range_g_m2'][0]:.2f}-{d['n_range_g_m2'][1]:.2f} g/m2 "
                f"(sd {d['n_sd_g_m2']:.2f}" + (f", r with LMA {d['r_n_lma']:+.2f}" if "r_n_lma" in d else "") + ")")
        if "note" in d:
            lines.append(head + ": " + d["note"])
            continue
        cells = []
        for k, title in (("pls_reflectance", "PLSR R"), ("pls_log_1_r", "PLSR log 1/R"), ("app_linear_cv", "app x linear")):
            if k in d:
                v = d[k]
                cells.append(f"{title} LOO {v['loo_r2']:+.2f}, k-fold {v['kfold_r2_median']:+.2f} "
                             f"[{v['kfold_r2_p10']:+.2f}, {v['kfold_r2_p90']:+.2f}]")
        verdict = ("reached with its own labels" if d["attainable_kfold"] else
                   "reached with its own labels by LOO only" if d["attainable"] else
                   "NOT reached even with its own labels")
        lines.append(head + ";\n           " + "; ".join(cells) + f"\n           -> best own-species R2 LOO "
                     f"{d['best_own_r2_loo']:+.2f}, k-fold {d['best_own_r2_kfold']:+.2f}: R2 >= {c['goal_r2']} {verdict}")
    return lines


HELD_OUT_GROUP = "_held_out_"


def _relabelled(table_path: Path, lines, folder: Path) -> Path:
    """A scratch copy of the table with the species of the given file lines set to :data:`HELD_OUT_GROUP`."""
    import csv

    with open(table_path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        rows = list(csv.reader(fh))
    col = next(rows[0].index(c) for c in SPECIES_COLUMNS if c in rows[0])
    for line in lines:
        rows[line - 1][col] = HELD_OUT_GROUP
    path = folder / table_path.name
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def loso(app, table_path, runner_for, *, settings, out_dir=None, epochs: int = EPOCHS, lr: float = 1e-4,
         n_sim: int = 2000, seed: int = 0, progress: bool = False, own_network_draws: int = OWN_NETWORK_DRAWS,
         ceiling_only: bool = False) -> dict:
    """Leave-one-species-out over the table's species; see the module docstring. ``ceiling_only``: the zero-shot
    estimates and :func:`ceiling` only (seconds; no calibration)."""
    from edgeinv.common.calibrate import CalibrationOptions, calibrate

    table_path = Path(table_path)
    table = read_table(table_path) if table_path.is_file() else None
    if table is None:
        raise InvalidInputError(f"{table_path}: not a labelled table (Wave_<nm> columns + N_g_m2)")
    species = sorted({t["species"] for t in table})
    if len(species) < 3:
        raise InvalidInputError(f"{table_path.name}: leave-one-species-out needs at least 3 species, found "
                                f"{len(species)}")
    factor = float(app.n_to_protein)
    sp = np.array([t["species"] for t in table])
    n_true = np.array([t["n_g_m2"] for t in table])
    x_pls = _pls_inputs([t["leaf"] for t in table])
    with tempfile.TemporaryDirectory() as tmp:  # evaluate_real scans a folder: give it this table only
        link = Path(tmp) / table_path.name
        link.symlink_to(table_path.resolve())
        zero = evaluate_real(app, tmp, runner_for)
    def zero_shot(column):
        by = {r["sample"]: r[column] for r in zero["rows"]}
        return np.array([np.nan if by.get(t["leaf"].sample) is None else by[t["leaf"].sample] for t in table])

    n_hyb, n_net = zero_shot("hybrid_n_g_m2"), zero_shot("model_n_g_m2")
    lma = np.array([t.get("lma_g_m2") or np.nan for t in table])
    ceil = ceiling(x_pls, n_hyb, n_true, sp, lma=lma, seed=seed)
    if ceiling_only:
        report = {"table": str(table_path), "ceiling": ceil, "n_to_protein": factor, "options": {"seed": seed},
                  "zero_shot": {s: _metrics(n_hyb[sp == s], n_true[sp == s]) for s in species}}
        report["text"] = "\n".join(ceiling_text(ceil))
        return _clean(report)
    rows = {}
    root = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="edgeinv-loso-"))
    for held in species:
        test, train = sp == held, sp != held
        opts = CalibrationOptions(epochs=epochs, lr=lr, n_sim=n_sim, seed=seed, holdout_group=held)
        rep = calibrate(app, table_path, table_path, root / held, settings=settings, options=opts, progress=progress)
        net = {}
        for when in ("before", "after"):
            m = rep["heldout"][when]["protein_g_cm2"]
            rng_n = float(np.ptp(n_true[test]))
            k = 1e4 / factor
            net[when] = {"nrmse": m["rmse"] * k / rng_n, "r2": m["r2"], "bias": m["bias"] * k, "n": m["n"]}
        n_comp = pls_choose(x_pls[train], n_true[train])
        pls = pls_predict(pls_fit(x_pls[train], n_true[train], n_comp), x_pls[test])
        ok = np.isfinite(n_hyb) & train
        b, a = np.polyfit(n_hyb[ok], n_true[ok], 1)
        scaled = {}
        for key, est in (("hybrid_scale", n_hyb), ("network_scale", n_net)):
            fit = np.isfinite(est) & train  # one factor through the origin: N = k * estimate
            k = float(np.sum(est[fit] * n_true[fit]) / np.sum(est[fit] ** 2))
            scaled[key] = {**_metrics(k * est[test], n_true[test]), "scale": k}
        rows[held] = {"n": int(test.sum()), "trained_on": rep["trained_on"], "validated_on": rep["validated_on"],
                      "epochs_run": rep["epochs_run"], "best_epoch": rep["best_epoch"],
                      "network_before": net["before"], "network_after": net["after"],
                      "pls": {**_metrics(pls, n_true[test]), "components": n_comp},
                      "hybrid_zero_shot": _metrics(n_hyb[test], n_true[test]),
                      "hybrid_linear": {**_metrics(a + b * n_hyb[test], n_true[test]), "a": float(a), "b": float(b)},
                      **scaled,
                      "release": str(root / held)}
    lines_of = np.array([t["line"] for t in table])

    def own_network(s, k, j, cal, test):  # the core path on the other species + k own leaves, the rest held out
        with tempfile.TemporaryDirectory() as tmp:
            path = _relabelled(table_path, lines_of[test], Path(tmp))
            opts = CalibrationOptions(epochs=epochs, lr=lr, n_sim=n_sim, seed=seed + j, holdout_group=HELD_OUT_GROUP)
            rep = calibrate(app, path, path, Path(tmp) / "release", settings=settings, options=opts, progress=False)
        m = rep["heldout"]["after"]["protein_g_cm2"]
        return {"r2": m["r2"], "nrmse": m["rmse"] * 1e4 / factor / float(np.ptp(n_true[test]))}

    own = own_species(x_pls, n_hyb, n_true, sp, seed=seed, network=own_network if own_network_draws else None,
                      network_draws=own_network_draws)
    report = {"table": str(table_path), "species": rows, "n_to_protein": factor, "own_species": own, "ceiling": ceil,
              "options": {"epochs": epochs, "lr": lr, "n_sim": n_sim, "seed": seed}, "out": str(root)}
    report["text"] = _text(report)
    return _clean(report)


def _text(r: dict) -> str:
    cols = (("network_before", "network before"), ("network_after", "network calibrated"), ("pls", "PLSR"),
            ("hybrid_zero_shot", "hybrid zero-shot"), ("hybrid_linear", "hybrid + linear"),
            ("hybrid_scale", "hybrid x scale"), ("network_scale", "network x scale"))
    lines = ["leave-one-species-out, N per area on the held-out species: NRMSE (RMSE / range) / R2 / bias g/m2",
             f"{'held out':<9} {'n':>3} " + " ".join(f"| {title:>22}" for _, title in cols)]
    for held, d in r["species"].items():
        cells = [f"{d[k]['nrmse']:.3f} / {d[k]['r2']:+.2f} / {d[k]['bias']:+.2f}" for k, _ in cols]
        lines.append(f"{held:<9} {d['n']:>3} " + " ".join(f"| {c:>22}" for c in cells))
    lines.append("network: the core calibration path (calibrate --holdout-group SPECIES), releases in " + r["out"])
    lines.append("x scale: one factor through the origin fitted on the training species: " + ", ".join(
        f"{k} hybrid {d['hybrid_scale']['scale']:.3f} network {d['network_scale']['scale']:.3f}"
        for k, d in r["species"].items()))
    lines.append("PLSR components: " + ", ".join(f"{k} {d['pls']['components']}" for k, d in r["species"].items()))
    lines.append(f"calibration: up to {r['options']['epochs']} epochs, best epoch " + ", ".join(
        f"{k} {d['best_epoch']}" for k, d in r["species"].items()))
    own = r.get("own_species")
    if own:
        lines.append(f"with k leaves of the species itself (+ the other species; {own['draws']} random draws, scored "
                     f"on its remaining leaves): median R2 / NRMSE, share of draws with R2 >= {own['goal_r2']}")
        for s, by_k in own["by_species"].items():
            names = {"network_calibrated": "network calibrated", "hybrid_own_scale": "hybrid x own scale", "pls": "PLSR"}
            cells = [f"k={k}: " + ", ".join(f"{names[m]} {v['r2']:+.2f} / {v['nrmse']:.3f} ({v['share_goal']:.0%} of "
                                            f"{v['draws']})" for m, v in d.items()) for k, d in by_k.items()]
            lines.append(f"  {s:<8} " + " | ".join(cells))
        def needed(s, k):
            if r["species"].get(s, {}).get("hybrid_zero_shot", {}).get("r2", -1.0) >= own["goal_r2"]:
                return "0 (zero-shot already)"
            return str(k) if k is not None else f"not reached with {max(own['ks'])}"
        lines.append(f"own-species leaves needed for R2 >= {own['goal_r2']} (median): "
                     + ", ".join(f"{s} {needed(s, k)}" for s, k in own["needed"].items()))
    if r.get("ceiling"):
        lines += ceiling_text(r["ceiling"])
    return "\n".join(lines)
