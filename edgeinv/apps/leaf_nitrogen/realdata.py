"""Evaluation on real labelled leaves: ``edgeinv leaf-nitrogen evaluate-real [DIR]`` (App.evaluate_real).

Finds every CSV under ``DIR`` (default ``../shared/realdata/leaf-nitrogen/``) laid out as the
EcoSIS / spectratrait tables are: one leaf per row, reflectance in columns ``Wave_<nm>`` (percent or
fraction, detected per table), measured nitrogen per area in ``N_g_m2`` and optionally a species
column (``Species_Code``, ``species``) and ``LMA_g_m2`` / ``H20_g_m2``. Tables without spectra or
without ``N_g_m2`` (trait-only priors) are listed as skipped.

Every leaf runs through the shipped edge path (preprocess -> ONNX -> hybrid -> interpret), the raw
network, and the iterative PROSPECT-PRO inversion (:mod:`baseline`) side by side. Scores per species
and overall for N per area: RMSE, NRMSE (RMSE / range of the measured values; also RMSE / mean),
R², bias, Pearson r and the share of leaves whose truth lies within ±1σ; the off-manifold score;
LMA and EWT where measured; and the N-to-protein factor the protein estimates imply (mean estimated
protein / mean measured N), which says how much of the leaf N the protein term explains.
Nothing here is fitted to the leaves: it only measures.
"""

from __future__ import annotations

import csv
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgeinv.common.errors import InvalidInputError

from .hybrid import hybrid_outputs, prepare
from .interpret import N_ROUGH_REL, interpret_leaf
from .io import LeafSpectrum
from .physics import nitrogen_area_g_m2

WAVE_COLUMN = re.compile(r"^(?:wave|wl|nm|band)?[_ ]?(\d{3,4}(?:\.\d+)?)$", re.IGNORECASE)
SPECIES_COLUMNS = ("Species_Code", "species", "Species", "species_code")
GOAL_NRMSE, GOAL_R2 = 0.15, 0.3


def read_table(path: Path) -> list[dict] | None:
    """Leaves of one labelled table: ``[{"leaf": LeafSpectrum, "species", "n_g_m2", "lma_g_m2", "h2o_g_m2", "c_g_m2"}]``.

    None when the table has no spectra or no measured ``N_g_m2``.
    """
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2:
        return None
    header = [h.strip() for h in rows[0]]
    waves = [(i, float(m.group(1))) for i, h in enumerate(header) if (m := WAVE_COLUMN.match(h))]
    if len(waves) < 20 or "N_g_m2" not in header:
        return None
    cols, wl = zip(*waves)
    wl = np.asarray(wl)
    order = np.argsort(wl)
    idx = {name: header.index(name) for name in ("N_g_m2", "LMA_g_m2", "H20_g_m2", "C_g_m2") if name in header}
    sp_col = next((header.index(c) for c in SPECIES_COLUMNS if c in header), None)
    table = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InvalidInputError(f"{path.name} line {line}: {len(row)} fields where the header has {len(header)}")
        try:
            r = np.array([float(row[i]) for i in cols])[order]
            n = float(row[idx["N_g_m2"]])
        except ValueError:
            continue  # a leaf without a number (NA) is not scored
        if not (np.all(np.isfinite(r)) and np.isfinite(n) and n > 0):
            continue
        species = row[sp_col].strip() if sp_col is not None else path.stem
        extra = {}
        for key, name in (("lma_g_m2", "LMA_g_m2"), ("h2o_g_m2", "H20_g_m2"), ("c_g_m2", "C_g_m2")):
            try:
                extra[key] = float(row[idx[name]]) if name in idx else None
            except ValueError:
                extra[key] = None
        table.append({"species": species, "n_g_m2": n, "reflectance": r, **extra, "line": line})
    if not table:
        return None
    percent = max(float(np.max(t["reflectance"])) for t in table) > 1.5
    for i, t in enumerate(table):
        refl = t.pop("reflectance") / (100.0 if percent else 1.0)
        t["leaf"] = LeafSpectrum(sample=f"{t['species']}_{i:03d}", wavelength_nm=wl[order], reflectance=refl,
                                 source=str(path.name), meta={"percent": percent})
    return table


def read_labelled(app, data, labels) -> list[tuple[LeafSpectrum, dict]]:
    """``[(leaf, {target: value, "_group": species})]`` for the core's calibration path.

    Two layouts: ``data`` a spectrum CSV (wavelength column + one column per leaf, :mod:`io`) with
    ``labels`` a CSV of ``sample``, ``nitrogen_g_m2`` (optional target columns and ``group`` /
    ``species``); or ``data`` a labelled EcoSIS-layout table (``Wave_<nm>`` + ``N_g_m2``, this module),
    ``labels`` the same file (its ``LMA_g_m2``/``H20_g_m2`` become LMA/EWT labels, species the group).
    Nitrogen labels become protein labels through the app's N-to-protein factor.
    """
    from .finetune import read_labels
    from .physics import protein_from_nitrogen_g_cm2

    factor = float(app.n_to_protein)
    table = read_table(Path(data)) if Path(data).is_file() and Path(data).suffix.lower() == ".csv" else None
    if table is not None:
        out = []
        for t in table:
            y = {"protein_g_cm2": float(protein_from_nitrogen_g_cm2(nitrogen_g_m2=t["n_g_m2"], n_to_protein=factor)),
                 "_group": t["species"]}
            if t.get("lma_g_m2"):
                y["lma_g_cm2"] = t["lma_g_m2"] / 1e4
            if t.get("h2o_g_m2"):
                y["ewt_g_cm2"] = t["h2o_g_m2"] / 1e4
            out.append((t["leaf"], y))
        return out
    leaves = app.read_many(data, filename=Path(data).name)
    lab = read_labels(labels, target_names=[t.name for t in app.targets], n_to_protein=factor)
    groups = {}
    with open(labels, newline="", encoding="utf-8-sig", errors="replace") as fh:
        for rec in csv.DictReader(fh):
            g = rec.get("group") or rec.get("species")
            if g and rec.get("sample"):
                groups[rec["sample"].strip()] = g.strip()
    missing = sorted(set(lab) - {leaf.sample for leaf in leaves})
    if missing:
        raise InvalidInputError(f"labels for samples not in the spectra file: {', '.join(missing[:10])}")
    return [(leaf, {**lab[leaf.sample], **({"_group": groups[leaf.sample]} if leaf.sample in groups else {})})
            for leaf in leaves if leaf.sample in lab]


def _within(pred, truth) -> dict:
    """What a per-species (per-field) use of an estimate can rely on, whatever its species bias.

    ``relative_r2``: R² of ``estimate / its species mean`` against ``N / its mean`` — the accuracy of a
    ratio of two means of the same crop, which is what the reference-strip sufficiency index uses (a
    species' multiplicative bias cancels in it); ``r2_best_linear``: r², the R² a per-species linear
    recalibration fitted on the species' own leaves would reach at best.
    """
    p, t = np.asarray(pred, float), np.asarray(truth, float)
    ok = np.isfinite(p)
    p, t = p[ok], t[ok]
    if len(t) < 3 or np.std(p) == 0 or np.mean(p) <= 0:
        return {}
    pr, tr = p / p.mean(), t / t.mean()
    return {"relative_r2": float(1 - np.sum((pr - tr) ** 2) / np.sum((tr - tr.mean()) ** 2)),
            "r2_best_linear": float(np.corrcoef(p, t)[0, 1] ** 2)}


def _metrics(pred, truth, std=None) -> dict:
    p, t = np.asarray(pred, float), np.asarray(truth, float)
    ok = np.isfinite(p)
    p, t = p[ok], t[ok]
    if len(t) < 2:
        return {"n": int(len(t))}
    e = p - t
    rmse = float(np.sqrt(np.mean(e**2)))
    out = {"n": int(len(t)), "rmse": rmse, "nrmse": rmse / float(np.ptp(t)), "nrmse_mean": rmse / float(np.mean(t)),
           "r2": float(1 - np.sum(e**2) / np.sum((t - t.mean()) ** 2)), "bias": float(np.mean(e)),
           "r": float(np.corrcoef(p, t)[0, 1]) if np.std(p) > 0 else float("nan")}
    if std is not None:  # observed coverage of the intervals; nominal 68.3 % and 95.4 % for a normal error
        s = np.asarray(std, float)[ok]
        out["within_1sd"] = float(np.mean(np.abs(e) <= s))
        out["within_2sd"] = float(np.mean(np.abs(e) <= 2 * s))
        out["mean_sd"] = float(np.mean(s))
    return out


def _run(app, entries, runner_for, progress: bool):
    """Per leaf: hybrid outputs + info, raw network outputs, iterative inversion; and timings."""
    groups = defaultdict(list)
    for i, e in enumerate(entries):
        groups[app.config_for(e["leaf"])].append(i)
    t_model = t_hybrid = t_base = 0.0
    for config, idx in groups.items():
        x = np.stack([app.preprocess(entries[i]["leaf"], config=config) for i in idx])
        runner = runner_for(config)
        prepare(config)
        t0 = time.perf_counter()
        raw = runner(x)
        t_model += time.perf_counter() - t0
        for j, i in enumerate(idx):
            e = entries[i]
            out = {k: np.asarray(v)[j] for k, v in raw.items()}
            t0 = time.perf_counter()
            merged, info = hybrid_outputs(out, e["leaf"], config=config, x=x[j])
            res = interpret_leaf(merged, e["leaf"], config=config, info=info)
            t_hybrid += time.perf_counter() - t0
            t0 = time.perf_counter()
            base = app.baseline(e["leaf"])
            t_base += time.perf_counter() - t0
            e.update(config=config, raw={k: float(np.asarray(v).reshape(-1)[0]) for k, v in out.items()},
                     result=res, info=info, base={k: float(v) for k, v in base.items()})
        if progress:
            import sys

            print(f"leaf-nitrogen evaluate-real: {len(idx)} leaves ({config})", file=sys.stderr, flush=True)
    n = max(len(entries), 1)
    return {"model": 1e3 * t_model / n, "hybrid": 1e3 * (t_model + t_hybrid) / n, "iterative": 1e3 * t_base / n}


def evaluate_real(app, data_dir, runner_for, *, progress: bool = False) -> dict:
    data_dir = Path(data_dir)
    entries, skipped, files = [], [], []
    for path in sorted(data_dir.rglob("*.csv")):
        table = read_table(path)
        if table is None:
            skipped.append(str(path.relative_to(data_dir)))
            continue
        files.append(str(path.relative_to(data_dir)))
        entries += table
    if not entries:
        raise InvalidInputError(f"no labelled spectra (Wave_<nm> columns + N_g_m2) under {data_dir}")
    ms = _run(app, entries, runner_for, progress)
    factor = float(app.n_to_protein)
    for e in entries:
        r = e["result"]
        e["hybrid_n"], e["hybrid_sd"] = r.values.get("nitrogen_g_m2"), r.stds.get("nitrogen_g_m2")
        p, ps = e["raw"].get("protein_g_cm2"), e["raw"].get("protein_g_cm2_std")
        e["model_n"] = None if p is None else float(nitrogen_area_g_m2(protein_g_cm2=max(p, 0.0), n_to_protein=factor))
        e["model_sd"] = None if ps is None else float(nitrogen_area_g_m2(protein_g_cm2=ps, n_to_protein=factor))
        bp = e["base"].get("protein_g_cm2")
        e["iter_n"] = None if bp is None else float(nitrogen_area_g_m2(protein_g_cm2=bp, n_to_protein=factor))

    def f(v):
        return np.nan if v is None else float(v)

    species = sorted({e["species"] for e in entries})
    per_species, baseline = {}, {}
    for sp in species + ["all"]:
        sel = [e for e in entries if sp == "all" or e["species"] == sp]
        t = [e["n_g_m2"] for e in sel]
        d = {"hybrid": _metrics([f(e["hybrid_n"]) for e in sel], t, [f(e["hybrid_sd"]) for e in sel]),
             "model": _metrics([f(e["model_n"]) for e in sel], t, [f(e["model_sd"]) for e in sel]),
             "ood_score_median": float(np.median([e["info"]["ood_score"] for e in sel])),
             "off_manifold_share": float(np.mean([e["info"]["ood_score"] > 1 for e in sel])),
             "physics_led_share": float(np.mean([e["info"]["physics_led"] for e in sel])),
             "protein_not_resolvable_share": float(np.mean([not e["result"].protein_resolvable for e in sel])),
             "flagged_share": float(np.mean([bool(e["result"].flags) for e in sel])),
             "n_rough_share": float(np.mean([any("roughly resolved" in f for f in e["result"].flags) for e in sel]))}
        for part, keep in (("on_manifold", lambda e: e["info"]["ood_score"] <= 1), ("off_manifold",
                                                                                     lambda e: e["info"]["ood_score"] > 1)):
            ps = [e for e in sel if keep(e)]  # is the interval as honest where only the network runs?
            d[f"hybrid_{part}"] = _metrics([f(e["hybrid_n"]) for e in ps], [e["n_g_m2"] for e in ps],
                                           [f(e["hybrid_sd"]) for e in ps])
        # what the protein term explains: the factor that would map the estimated protein onto the
        # measured N (mean protein / mean N); protein-N share of leaf N = factor / 6.25
        prot = np.array([f(e["base"].get("protein_g_cm2")) for e in sel])
        if np.isfinite(prot).all():
            d["implied_n_to_protein_iterative"] = float(np.mean(prot) * 1e4 / np.mean(t))
        hprot = np.array([f(e["result"].values.get("protein_g_cm2")) for e in sel])
        if np.isfinite(hprot).all():
            d["implied_n_to_protein_hybrid"] = float(np.mean(hprot) * 1e4 / np.mean(t))
        lma = [e for e in sel if e.get("lma_g_m2")]
        if len(lma) > 1:
            d["lma_g_m2"] = _metrics([1e4 * f(e["result"].values.get("lma_g_cm2")) for e in lma],
                                     [e["lma_g_m2"] for e in lma])
        h2o = [e for e in sel if e.get("h2o_g_m2")]
        if len(h2o) > 1:
            d["ewt_g_m2"] = _metrics([1e4 * f(e["result"].values.get("ewt_g_cm2")) for e in h2o],
                                     [e["h2o_g_m2"] for e in h2o])
        if sp != "all":
            d["field_mean"] = _field_mean([e["result"] for e in sel if e["hybrid_n"] is not None],
                                          [e["n_g_m2"] for e in sel if e["hybrid_n"] is not None])
            d["within_species"] = {k: _within([f(e[col]) for e in sel], t)
                                   for k, col in (("hybrid", "hybrid_n"), ("model", "model_n"), ("iterative", "iter_n"))}
        per_species[sp] = d
        baseline[sp] = {"nitrogen_g_m2": _metrics([f(e["iter_n"]) for e in sel], t)}
        if len(lma) > 1:
            baseline[sp]["lma_g_m2"] = _metrics([1e4 * f(e["base"].get("lma_g_cm2")) for e in lma],
                                                [e["lma_g_m2"] for e in lma])
    goals = {sp: bool(per_species[sp]["hybrid"].get("nrmse", 1) <= GOAL_NRMSE
                      and per_species[sp]["hybrid"].get("r2", -1) > GOAL_R2) for sp in species}
    rows = [{"sample": e["leaf"].sample, "species": e["species"], "file": e["leaf"].source, "config": e["config"],
             "n_g_m2": e["n_g_m2"], "hybrid_n_g_m2": e["hybrid_n"], "hybrid_n_sd": e["hybrid_sd"],
             "model_n_g_m2": e["model_n"], "model_n_sd": e["model_sd"], "iterative_n_g_m2": e["iter_n"],
             "method": e["result"].method, "ood_score": e["info"]["ood_score"],
             "physics_weight": e["info"]["physics_weight"], "protein_resolvable": e["result"].protein_resolvable,
             "lma_g_m2": e.get("lma_g_m2"), "hybrid_lma_g_m2": 1e4 * f(e["result"].values.get("lma_g_cm2"))}
            for e in entries]
    summary = {"target": "nitrogen_g_m2 (N per leaf area)", "n_leaves": len(entries), "files": files,
               "skipped": skipped, "species": per_species, "goals_met": goals,
               "goal": f"zero-shot per species NRMSE (RMSE / range) <= {GOAL_NRMSE} and R2 > {GOAL_R2}",
               "ms_per_leaf": ms, "n_to_protein": factor, "ceiling": _ceiling(entries)}
    return _clean({"summary": summary, "rows": rows, "baseline": baseline, "text": _text(summary, baseline)})


def _ceiling(entries) -> dict:
    """Per species, what its own leaves can tell about its N (:func:`loso.ceiling`): labels are read here only to
    measure, never to estimate."""
    from .loso import _pls_inputs, ceiling

    out = {}
    for sp in sorted({e["species"] for e in entries}):
        sel = [e for e in entries if e["species"] == sp]
        c = ceiling(_pls_inputs([e["leaf"] for e in sel]), np.array([np.nan if e["hybrid_n"] is None else e["hybrid_n"]
                                                                      for e in sel]),
                    np.array([e["n_g_m2"] for e in sel]), np.array([sp] * len(sel)),
                    lma=np.array([e.get("lma_g_m2") or np.nan for e in sel]))
        out.update(c["by_species"])
        meta = {k: v for k, v in c.items() if k != "by_species"}
    return {"by_species": out, **meta}


def _field_mean(results, truth) -> dict:
    """The species as one field (issue 14): its mean N per area against the measured mean, with the advice's standard
    errors (:func:`advice.field_mean`) -- leaves as independent, and with the part a species shares added in full."""
    from .advice import field_mean

    if len(results) < 2:
        return {}
    mean, _, se, se_abs, shared = field_mean(results)
    err = mean - float(np.mean(truth))
    return {"estimate": mean, "measured": float(np.mean(truth)), "se_independent": se, "se": se_abs,
            "shared_rel_sd": shared, "z_independent": err / se, "z": err / se_abs}


def _clean(obj):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python (the manifest is written with allow_nan=False)."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _text(summary: dict, baseline: dict) -> str:
    lines = [f"leaf-nitrogen on {summary['n_leaves']} real leaves ({', '.join(summary['files'])}); N per area, "
             f"zero-shot; NRMSE = RMSE / range of the measured N",
             f"{'species':<8} {'n':>3} | {'hybrid NRMSE':>12} {'R2':>6} {'bias':>6} {'±1σ':>5} {'±2σ':>5} | "
             f"{'network NRMSE':>13} {'R2':>6} {'±1σ':>5} | {'iterative NRMSE':>15} {'R2':>6} {'bias':>6} | "
             f"{'OOD med':>7} {'physics':>7} {'factor':>6}"]
    for sp, d in summary["species"].items():
        h, m, b = d["hybrid"], d["model"], baseline[sp]["nitrogen_g_m2"]
        if not all("nrmse" in v for v in (h, m, b)):
            lines.append(f"{sp:<8} {h['n']:>3} | too few scored leaves")
            continue
        lines.append(f"{sp:<8} {h['n']:>3} | {h['nrmse']:>12.3f} {h['r2']:>+6.2f} {h['bias']:>+6.2f} "
                     f"{h['within_1sd']:>5.2f} {h['within_2sd']:>5.2f} | {m['nrmse']:>13.3f} {m['r2']:>+6.2f} "
                     f"{m['within_1sd']:>5.2f} | {b['nrmse']:>15.3f} {b['r2']:>+6.2f} {b['bias']:>+6.2f} | "
                     f"{d['ood_score_median']:>7.2f} {100 * d['physics_led_share']:>6.0f}% "
                     f"{d.get('implied_n_to_protein_hybrid', float('nan')):>6.2f}")
    lines.append(f"±1σ/±2σ: share of leaves whose measured N lies within the interval (nominal 0.68/0.95); "
                 f"factor: the N-to-protein factor the hybrid's protein implies (used: {summary['n_to_protein']:g}; "
                 f"protein-N share of leaf N = factor / 6.25)")
    lines.append("within species (a species' bias removed): relative-N R2 (estimate / species mean vs N / mean: "
                 "what the reference-strip index uses) | r2 (best per-species linear recalibration)")
    for sp, d in summary["species"].items():
        w = d.get("within_species") or {}
        if all(w.get(k) for k in ("hybrid", "model", "iterative")):
            lines.append(f"{sp:<8} relative-N R2 hybrid {w['hybrid']['relative_r2']:+.2f} network "
                         f"{w['model']['relative_r2']:+.2f} iterative {w['iterative']['relative_r2']:+.2f} | r2 hybrid "
                         f"{w['hybrid']['r2_best_linear']:.2f} network {w['model']['r2_best_linear']:.2f} iterative "
                         f"{w['iterative']['r2_best_linear']:.2f}")
    al = summary["species"].get("all", {})
    parts = [(k, al.get(f"hybrid_{k}", {})) for k in ("on_manifold", "off_manifold")]
    if all("within_1sd" in v for _, v in parts):
        lines.append("all leaves, ±1σ / ±2σ coverage and RMSE: " + ", ".join(
            f"{k.replace('_', ' ')} (score {'<=' if k == 'on_manifold' else '>'} 1, {v['n']} leaves) {v['within_1sd']:.2f} / "
            f"{v['within_2sd']:.2f}, {v['rmse']:.2f} g/m2" for k, v in parts))
    fm = {sp: d["field_mean"] for sp, d in summary["species"].items() if d.get("field_mean")}
    if fm:
        lines.append("each species as one field, mean N: z = (estimate - measured) / se, leaves as independent -> with "
                     "the part a species shares (factor, species-level model error): " + ", ".join(
                         f"{sp} {v['z_independent']:+.1f} -> {v['z']:+.1f}" for sp, v in fm.items()))
    lines.append(f"leaf N flagged 'only roughly resolved' (1σ > {100 * N_ROUGH_REL:.0f} % of the value): " + ", ".join(
        f"{sp} {100 * d.get('n_rough_share', 0):.0f} %" for sp, d in summary["species"].items()))
    ms = summary["ms_per_leaf"]
    lines.append(f"ms per leaf: network {ms['model']:.3f}, hybrid edge path {ms['hybrid']:.1f}, "
                 f"iterative inversion {ms['iterative']:.1f}")
    if summary.get("ceiling"):
        from .loso import ceiling_text

        lines += ceiling_text(summary["ceiling"])
    met = [sp for sp, ok in summary["goals_met"].items() if ok]
    lines.append(f"goal ({summary['goal']}): met for {', '.join(met) if met else 'no species'}")
    if summary["skipped"]:
        lines.append(f"skipped (no spectra or no N_g_m2): {', '.join(summary['skipped'])}")
    return "\n".join(lines)
