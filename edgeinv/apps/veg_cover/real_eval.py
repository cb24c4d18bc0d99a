"""Score the edge path on real labelled images (``edgeinv veg-cover evaluate-real``), classical baselines side by side.

The folder holds ``fvc_labels.csv`` (columns ``dataset, image, mask, true_fvc``; paths relative to
the folder), as ``../shared/realdata/veg-cover/`` does. Every image runs through exactly what
``predict`` runs (reader, path choice by GSD, levels, model, zones; nothing written), zero-shot:
nothing is fitted to these files. Per image: true cover, estimate +- its uncertainty, whether it is
within +-0.03, the OOD / low-confidence flag, and three classical estimates on the same pixels --
index + Otsu (NDVI, or chromatic excess green for RGB), a fixed index threshold (NDVI > 0.3, ExG >
0.1) and the index's minimum-error (Kittler-Illingworth) split. Where the mask file is readable and
matches the image, the mask is compared pixel by pixel to check the per-pixel uncertainty.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from edgeinv.common.errors import EdgeinvError, InvalidInputError

TOLERANCE = 0.03
BASELINES = ("index_otsu", "index_fixed", "index_min_error")


def read_table(data_dir: Path, needed: tuple[str, ...]) -> list[dict]:
    """The rows of ``data_dir/fvc_labels.csv`` (clear errors without the file or the ``needed`` columns)."""
    labels = Path(data_dir) / "fvc_labels.csv"
    if not labels.is_file():
        raise InvalidInputError(f"{data_dir}: no fvc_labels.csv (columns dataset, image, mask, true_fvc)")
    with open(labels, newline="") as fh:
        table = list(csv.DictReader(fh))
    if not table or not set(needed) <= set(table[0]):
        raise InvalidInputError(f"{labels}: needs columns {', '.join(needed)}")
    return table


def _baselines(sample) -> dict[str, float]:
    from .baseline import otsu_threshold
    from .features import vegetation_index
    from .radiometry import min_error_threshold, seed_index

    img = sample.load()
    valid = np.ones(img.bands.shape[1:], bool) if img.valid is None else img.valid
    vi, name = vegetation_index(img.bands, img.band_names)
    v = vi[valid]
    fixed = 0.3 if name == "ndvi" else 0.1
    seed, _ = seed_index(img.bands, img.band_names)
    t_ki, _ = min_error_threshold(seed[valid])
    return {"index_otsu": float(np.mean(v > otsu_threshold(vi, valid=valid))),
            "index_fixed": float(np.mean(v > fixed)),
            "index_min_error": float(np.mean(seed[valid] > t_ki)), "index": name}


def _read_mask(path: Path, true_fvc: float, shape) -> np.ndarray | None:
    """The vegetation mask, its convention (plant = nonzero, > 127, or zero) chosen to reproduce ``true_fvc``."""
    import cv2

    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        return None
    if m.ndim == 3:
        m = m[..., 0]
    if m.shape != tuple(shape):
        return None
    options = [m > 0, m > 127, m == 0]
    best = min(options, key=lambda a: abs(float(a.mean()) - true_fvc))
    return best if abs(float(best.mean()) - true_fvc) < 0.005 else None


def read_labelled(app, data, labels) -> list:
    """Images and their vegetation masks for ``edgeinv veg-cover calibrate`` (the core calibration path).

    ``labels``: a CSV with columns ``image`` and ``mask`` (paths relative to ``data``, a folder), optional
    ``dataset`` (site/source: the group for ``--holdout-group``) and ``true_fvc`` (picks the mask's
    convention — plant = nonzero, > 127 or zero — that reproduces it; without it plant = nonzero).
    The label is the mask as a per-pixel vegetation map, the same quantity the segmentation path outputs.
    """
    import cv2

    data, labels = Path(data), Path(labels)
    root = data if data.is_dir() else data.parent
    with open(labels, newline="", encoding="utf-8-sig") as fh:
        table = list(csv.DictReader(fh))
    if not table or not {"image", "mask"} <= set(table[0]):
        raise InvalidInputError(f"{labels.name}: needs columns image and mask (and optionally dataset, true_fvc)")
    pairs = []
    for line, rec in enumerate(table, start=2):
        image, mask_path = root / rec["image"], root / rec["mask"]
        if not image.is_file() or not mask_path.is_file():
            raise InvalidInputError(f"{labels.name} line {line}: {rec['image']} or {rec['mask']} not found under {root}")
        sample = app.read(image, filename=image.name)
        shape = (sample.height, sample.width)
        if rec.get("true_fvc"):
            mask = _read_mask(mask_path, float(rec["true_fvc"]), shape)
        else:
            m = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
            mask = None if m is None else (m[..., 0] if m.ndim == 3 else m) > 0
            mask = mask if mask is not None and mask.shape == shape else None
        if mask is None:
            raise InvalidInputError(f"{labels.name} line {line}: {rec['mask']} is not a {shape[1]} x {shape[0]} px mask "
                                    f"of {rec['image']}" + (" matching its true_fvc" if rec.get("true_fvc") else ""))
        lab = {"cover_fraction": mask.astype(np.float32)}
        if rec.get("dataset"):
            lab["_group"] = rec["dataset"]
        pairs.append((sample, lab))
    return pairs


def _pixel_check(result, mask: np.ndarray) -> dict:
    """Mask vs the model's mask; error rates where the model is sure / unsure of a pixel.

    Unsure: a pixel sd above the zone rule's low-confidence bar (segmentation path: P(vegetation)
    within 0.1 of the decision, or a pixel either side of the mask's boundary), else P within 0.1 of 0.5.
    """
    from .confidence import P_HIGH, P_LOW
    from .interpret import SEGMENT_LOW_CONFIDENCE_STD

    pred = result.cover
    ok = np.isfinite(pred)
    wrong = (pred > 0.5) != mask
    out = {"pixel_accuracy": float(1 - wrong[ok].mean())}
    if result.probability is not None or result.std is not None:
        if result.std is not None:  # what the zones see: ambiguous and boundary pixels (segmentation path)
            unsure = (result.std > SEGMENT_LOW_CONFIDENCE_STD) & ok
        else:
            unsure = (result.probability > P_LOW) & (result.probability < P_HIGH) & ok
        sure = ~unsure & ok
        n_wrong = int((wrong & ok).sum())
        out.update(share_unsure=float(unsure.sum() / max(ok.sum(), 1)),
                   error_rate_sure=float(wrong[sure].mean()) if sure.any() else None,
                   error_rate_unsure=float(wrong[unsure].mean()) if unsure.any() else None,
                   # coverage: the share of the model's pixel errors that it marked unsure
                   errors_marked_unsure=float((wrong & unsure).sum() / n_wrong) if n_wrong else None)
    out.update(_zone_check(result, mask, ok))
    return out


CLASSES = ("missed", "missed_rim", "missed_saturated", "missed_pale", "missed_shaded", "missed_other",
           "false", "false_rim", "false_halo", "false_unlabelled_plant", "false_bright_surface", "false_dark",
           "false_other")
UNLABELLED_MIN_PX = 30     # a false-vegetation blob this large, beyond the halo, green by both cues: a plant?
HALO_PX = 4.5              # false vegetation up to this far from the mask: the mask's outline, not a new object


def pixel_classes(sample, result, mask: np.ndarray) -> dict:
    """The error budget of one image: where the model's mask and the hand mask differ, by kind of pixel, as
    shares of all valid pixels -- what each kind takes from (missed) or adds to (false) the cover estimate.

    Missed vegetation, in this order: on the mask's 1 px rim; *saturated* (camera counts at full scale in every
    channel: no colour measured); *pale* (RGB: at least 0.75x as bright as the vegetation the model found and
    grey, ``(G - max(R, B)) / (R + G + B) < 0.03``: over-exposed leaves whose colour clipped away in part);
    *shaded* (mean band value below 0.75x that vegetation's median); other.
    False vegetation, by distance from the mask: its 1 px rim (where the outline is drawn); a halo up to
    :data:`HALO_PX` (a generous model outline or a tight mask); beyond that, blobs of at least
    :data:`UNLABELLED_MIN_PX` px where both cues (band and chromatic coordinate) say vegetation and, on RGB, the
    pixel is green (*unlabelled plant*: a plant the mask may leave out -- look at the image before counting it
    as a model error); on surfaces brighter than twice the background's median (trays, crates); on dark pixels
    (below half that median: shadow, black soil); other.
    """
    from scipy.ndimage import binary_erosion, distance_transform_edt, label

    from .confidence import saturated
    from .features import channels, fine_input_config

    img = sample.load()
    bands, names = img.bands, list(img.band_names)
    ok = np.isfinite(result.cover)
    pred = (result.cover > 0.5) & ok
    bright = bands.mean(axis=0)
    fn, fp = mask & ~pred & ok, ~mask & pred & ok
    found, background = mask & pred, ~mask & ~pred & ok
    veg_level = float(np.median(bright[found])) if found.any() else np.inf
    bg_level = float(np.median(bright[background])) if background.any() else np.inf
    rgb = all(b in names for b in ("red", "green", "blue"))
    green = np.ones_like(mask)
    if rgb:
        r, g, b = (bands[names.index(k)] for k in ("red", "green", "blue"))
        green = (g - np.maximum(r, b)) / (r + g + b + 1e-3) >= 0.03
    rim = fn & ~binary_erosion(mask, iterations=1)
    rest = fn & ~rim
    sat = rest & saturated(bands)
    rest &= ~sat
    pale = rest & ~green & (bright >= 0.75 * veg_level)
    rest &= ~pale
    shaded = rest & (bright < 0.75 * veg_level)
    rest &= ~shaded
    dist = distance_transform_edt(~mask)
    f_rim, halo = fp & (dist <= 1.5), fp & (dist > 1.5) & (dist <= HALO_PX)
    far = fp & (dist > HALO_PX)
    cues = green.copy()
    levels = getattr(sample, "levels", None)
    if levels is not None and getattr(levels, "found", False) and levels.weights is not None:
        config = fine_input_config(names, "rgb_fine" if rgb else "red_nir_fine")
        x = channels(bands, names, config, levels=levels)
        cues &= (x[0] > 0.5) & (x[1] > 0.5)
    blobs, n_blobs = label(far)
    plant = np.zeros_like(far)
    if n_blobs:
        size = np.bincount(blobs.ravel(), minlength=n_blobs + 1)
        agree = np.bincount(blobs.ravel(), weights=cues.ravel(), minlength=n_blobs + 1)
        keep = (size >= UNLABELLED_MIN_PX) & (agree > 0.6 * size)
        keep[0] = False
        plant = keep[blobs] & far
    far &= ~plant
    surface = far & (bright > 2 * bg_level)
    dark = far & ~surface & (bright < 0.5 * bg_level)
    kinds = (fn, rim, sat, pale, shaded, rest, fp, f_rim, halo, plant, surface, dark, far & ~surface & ~dark)
    n = max(int(ok.sum()), 1)
    return {k: float(v.sum() / n) for k, v in zip(CLASSES, kinds)}


def _zone_check(result, mask: np.ndarray, ok: np.ndarray) -> dict:
    """Per zone: the zone's cover vs the mask's, and whether the zones that miss by more than the
    tolerance are the ones flagged ``low_confidence`` (recall) and the unflagged ones are right."""
    judged = [z for z in result.zones if z.get("fvc_mean") is not None
              and z["valid_fraction"] >= result.rules.min_valid]
    if not judged:
        return {}
    miss, flagged = [], []
    for z in judged:
        r0, c0, r1, c1 = z["pixel_bounds"]
        v = ok[r0:r1, c0:c1]
        if not v.any():
            continue
        miss.append(abs(z["fvc_mean"] - float(mask[r0:r1, c0:c1][v].mean())) > TOLERANCE)
        flagged.append("low_confidence" in z["flags"])
    miss, flagged = np.asarray(miss, bool), np.asarray(flagged, bool)
    return {"zones": int(miss.size), "zones_within": int((~miss).sum()),
            "zone_misses_flagged": int((miss & flagged).sum()), "zone_misses": int(miss.sum()),
            "zones_unflagged": int((~flagged).sum()), "zones_unflagged_within": int((~flagged & ~miss).sum())}


def evaluate_real(app, data_dir: Path, runner_for, *, progress: bool = False, gsd_sweep: bool = True,
                  with_ceiling: bool = True) -> dict:
    """Per image and per data set: model vs truth and vs the classical baselines (see the module docstring);
    with ``gsd_sweep`` also the same frames area-averaged to coarser GSDs (:mod:`.real_gsd`, result key ``gsd``);
    with ``with_ceiling`` what the labels themselves allow (:mod:`.ceiling`, result key ``ceiling``; data sets of
    fewer than three images get its boundary figures only)."""
    data_dir = Path(data_dir)
    table = read_table(data_dir, ("dataset", "image", "true_fvc"))
    rows = []
    for i, rec in enumerate(table):
        path = data_dir / rec["image"]
        truth = float(rec["true_fvc"])
        row = {"dataset": rec["dataset"], "image": rec["image"], "true_fvc": truth}
        try:
            sample = app.read(path, filename=path.name)
            config = app.config_for(sample)
            sample.options["keep_maps"] = True  # the per-pixel check against the mask needs them
            result = app.predict(sample, runner_for(config))
            e = result.extra
            row.update(config=config, path=e.get("path"), radiometry=e.get("radiometry"), fvc=result.fvc_mean,
                       fvc_uncertainty=e.get("fvc_uncertainty"), fvc_interval=e.get("fvc_interval"),
                       ood=e.get("ood"), ood_reasons=e.get("ood_reasons"), band_mapping=e.get("band_mapping"),
                       exif_orientation=e.get("exif_orientation"))
            row["error"] = row["fvc"] - truth
            row["within"] = abs(row["error"]) <= TOLERANCE
            row["in_interval"] = abs(row["error"]) <= (row["fvc_uncertainty"] or 0.0)
            base = _baselines(sample)
            row["index"] = base.pop("index")
            row["baselines"] = base
            mask_name = rec.get("mask")
            if mask_name and result.cover is not None:
                mask = _read_mask(data_dir / mask_name, truth, result.cover.shape)
                if mask is not None:
                    row["pixels"] = _pixel_check(result, mask)
                    row["pixels"]["classes"] = pixel_classes(sample, result, mask)
        except EdgeinvError as exc:
            row.update(fvc=None, error=None, within=False, failure=f"{type(exc).__name__}: {exc}")
        rows.append(row)
        if progress:
            est = "failed" if row["fvc"] is None else f"{row['fvc']:.3f}"
            print(f"[{i + 1}/{len(table)}] {rec['image']}: true {truth:.3f}, estimate {est}", file=sys.stderr,
                  flush=True)
    summary, baseline = _summarise(rows)
    out = {"summary": summary, "rows": rows, "baseline": baseline, "text": format_table(rows, summary)}
    if gsd_sweep:
        from .real_gsd import evaluate_gsd

        gsd = evaluate_gsd(app, data_dir, runner_for, progress=progress)
        out["text"] += "\n\ncover at coarser ground resolution (the frames area-averaged; MAE, within, bias):\n" + gsd.pop("text")
        out["gsd"] = gsd
    if with_ceiling:
        from .ceiling import ceiling

        ceil = ceiling(app, data_dir, zero_shot={r["image"]: r.get("error") for r in rows}, progress=progress)
        out["text"] += "\n\n" + ceil.pop("text")
        out["ceiling"] = ceil
    return out


def _stats(errors: list[float]) -> dict:
    e = np.asarray(errors, float)
    return {"n": int(e.size), "within": int(np.sum(np.abs(e) <= TOLERANCE)), "mae": float(np.mean(np.abs(e))),
            "bias": float(np.mean(e)), "max_abs": float(np.max(np.abs(e)))}


def _summarise(rows: list[dict]) -> tuple[dict, dict]:
    per = {}
    base_per = {}
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == ds]
        ok = [r for r in rs if r.get("fvc") is not None]
        entry = {"n": len(rs), "failures": len(rs) - len(ok)}
        if ok:
            entry.update(_stats([r["error"] for r in ok]))
            entry["n"] = len(rs)
            entry["ood_flagged"] = int(sum(bool(r.get("ood")) for r in ok))
            entry["in_interval"] = int(sum(bool(r.get("in_interval")) for r in ok))
            b = {name: _stats([r["baselines"][name] - r["true_fvc"] for r in ok]) for name in BASELINES}
            best = min(b, key=lambda k: b[k]["mae"])
            entry["best_baseline"] = best
            entry["best_baseline_mae"] = b[best]["mae"]
            entry["beats_best_baseline"] = bool(entry["mae"] < b[best]["mae"])
            base_per[ds] = b
            classes = [r["pixels"]["classes"] for r in ok if r.get("pixels", {}).get("classes")]
            if classes:
                entry["pixel_classes"] = {k: float(np.mean([c[k] for c in classes])) for k in CLASSES}
        per[ds] = entry
    ok = [r for r in rows if r.get("fvc") is not None]
    summary = {"n_images": len(rows), "within_0.03": int(sum(bool(r["within"]) for r in rows)),
               "tolerance": TOLERANCE, "per_dataset": per,
               "datasets_beating_best_baseline": int(sum(bool(v.get("beats_best_baseline")) for v in per.values())),
               "n_datasets": len(per)}
    if ok:
        summary.update(mae=float(np.mean([abs(r["error"]) for r in ok])),
                       ood_flagged=int(sum(bool(r.get("ood")) for r in ok)),
                       in_interval=int(sum(bool(r.get("in_interval")) for r in ok)),
                       within_when_not_flagged=_share([r["within"] for r in ok if not r.get("ood")]),
                       within_when_flagged=_share([r["within"] for r in ok if r.get("ood")]))
    px = [r["pixels"] for r in ok if r.get("pixels")]
    if px:
        def mean_of(key):
            vals = [d[key] for d in px if d.get(key) is not None]
            return float(np.mean(vals)) if vals else None

        def total(key):
            return int(sum(d.get(key, 0) for d in px))

        summary["pixels"] = {"n_images": len(px), "pixel_accuracy": mean_of("pixel_accuracy"),
                             "share_unsure": mean_of("share_unsure"), "error_rate_sure": mean_of("error_rate_sure"),
                             "error_rate_unsure": mean_of("error_rate_unsure"),
                             "errors_marked_unsure": mean_of("errors_marked_unsure"),
                             "note": "per-pixel check against the masks: error rate where the model's pixel sd "
                                     "says sure vs unsure, share of the wrong pixels marked unsure (means over "
                                     "images)"}
        summary["zones"] = {k: total(k) for k in ("zones", "zones_within", "zone_misses", "zone_misses_flagged",
                                                  "zones_unflagged", "zones_unflagged_within")}
        summary["zones"]["note"] = (f"per-zone check against the masks: zones whose cover misses the mask's by more "
                                    f"than {TOLERANCE}, and how many of them carry the low_confidence flag")
    baseline = {"per_dataset": base_per,
                "within_0.03": {name: int(sum(abs(r["baselines"][name] - r["true_fvc"]) <= TOLERANCE for r in ok))
                                for name in BASELINES},
                "description": "index + Otsu (NDVI, or chromatic ExG for RGB); fixed threshold NDVI > 0.3 / ExG > 0.1; "
                               "minimum-error (Kittler-Illingworth) split of NDVI / excess green of camera counts"}
    return summary, baseline


def _share(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def format_table(rows: list[dict], summary: dict) -> str:
    head = (f"{'dataset':<20} {'image':<34} {'true':>6} {'estimate':>15} {'err':>7} {'ok':>3} {'OOD':>3} "
            f"{'otsu':>6} {'fixed':>6} {'min-err':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("fvc") is None:
            lines.append(f"{r['dataset']:<20} {Path(r['image']).name:<34} {r['true_fvc']:>6.3f}  failed: "
                         f"{r.get('failure')}")
            continue
        b = r["baselines"]
        lines.append(f"{r['dataset']:<20} {Path(r['image']).name:<34} {r['true_fvc']:>6.3f} "
                     f"{r['fvc']:>7.3f}+-{r['fvc_uncertainty']:.3f} {r['error']:>+7.3f} {'y' if r['within'] else 'n':>3} "
                     f"{'Y' if r.get('ood') else '-':>3} {b['index_otsu']:>6.3f} {b['index_fixed']:>6.3f} "
                     f"{b['index_min_error']:>7.3f}")
    lines.append("")
    lines.append(f"{'dataset':<20} {'n':>3} {'within':>6} {'MAE':>7} {'bias':>7}   best baseline (MAE, within)")
    for ds, e in summary["per_dataset"].items():
        if "mae" not in e:
            lines.append(f"{ds:<20} {e['n']:>3} all failed")
            continue
        lines.append(f"{ds:<20} {e['n']:>3} {e['within']:>6} {e['mae']:>7.4f} {e['bias']:>+7.4f}   "
                     f"{e['best_baseline']} {e['best_baseline_mae']:.4f} -> "
                     f"{'model better' if e['beats_best_baseline'] else 'baseline better'}")
    for ds, e in summary["per_dataset"].items():
        c = e.get("pixel_classes")
        if c:
            lines.append(f"{ds}: {_budget(c)}")
    misses = [r for r in rows if r.get("fvc") is not None and not r["within"] and r.get("pixels", {}).get("classes")]
    if misses:
        lines.append("error budget of the images outside the tolerance (cover points: - missed, + false):")
        for r in misses:
            lines.append(f"  {Path(r['image']).name} {r['error']:+.3f}: {_budget(r['pixels']['classes'])}")
    if summary.get("pixels"):
        p = summary["pixels"]
        lines.append(f"pixels vs masks ({p['n_images']} images): accuracy {p['pixel_accuracy']:.3f}; "
                     f"error rate {_pct(p['error_rate_sure'])} where the model is sure, "
                     f"{_pct(p['error_rate_unsure'])} where unsure ({_pct(p['share_unsure'])} of pixels); "
                     f"{_pct(p.get('errors_marked_unsure'))} of the wrong pixels marked unsure")
    if summary.get("zones"):
        z = summary["zones"]
        lines.append(f"zones vs masks: {z['zones_within']}/{z['zones']} within +-{TOLERANCE}; "
                     f"{z['zone_misses_flagged']}/{z['zone_misses']} misses flagged low_confidence; "
                     f"{z['zones_unflagged_within']}/{z['zones_unflagged']} unflagged zones within")
    lines.append(f"all: {summary['within_0.03']}/{summary['n_images']} within +-{TOLERANCE}; "
                 f"{summary.get('ood_flagged', 0)} flagged OOD/low confidence; "
                 f"{summary.get('in_interval', 0)} with the truth inside estimate +- uncertainty")
    return "\n".join(lines)


def _budget(c: dict) -> str:
    """One line of :func:`pixel_classes` shares."""
    missed = ", ".join(f"{k[7:]} {_pct2(c[k])}" for k in CLASSES[1:6])
    false = ", ".join(f"{k[6:].replace('_', ' ')} {_pct2(c[k])}" for k in CLASSES[7:])
    return f"missed vegetation {_pct2(c['missed'])} of pixels ({missed}); false {_pct2(c['false'])} ({false})"


def _pct2(v) -> str:
    return f"{100 * v:.2f} %"


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"
