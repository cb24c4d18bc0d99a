"""What the real labels themselves allow (issue 15): ``edgeinv veg-cover ceiling [DIR]``, also part of
``evaluate-real`` (result key and manifest ``real.ceiling``).

Read from the labelled folder of ``evaluate-real`` (``fvc_labels.csv``: dataset, image, mask, true_fvc). Per data set:

* **Own-data pixel classifier, leave one image out** (:func:`own_data`): for every image, a pixel classifier
  (scikit-learn's histogram gradient boosting) trained on the *other* images' masks of the same data set --
  :data:`TRAIN_PX` random pixels per image -- on what a field user's camera gives per pixel (:func:`pixel_features`:
  chromatic coordinates, ExG, ExR, ExG - ExR or NDVI, brightness, the largest channel; the local mean and standard
  deviation of the index and of the brightness over :data:`SCALES` px boxes), tested on the held-out image: its
  cover = the share of its pixels classed vegetation (on a regular grid of about :data:`GRID_PX` pixels; the grid's
  own mask cover is within ``grid_max_abs`` of the full mask's). The classifier's size is chosen inside each fold
  (:data:`CANDIDATES`, by the cover MAE of a 3-fold split of the training images by image), never on the held-out one.
* **Index rule, leave one image out** (:func:`index_rule`): one threshold on one index of the camera's family
  (RGB: chromatic ExG, ExG - ExR; red+NIR: NDVI) fitted on the other images (index and threshold minimising their
  cover MAE), applied to the held-out image.
* **Label boundary** (:func:`boundary`): per image the cover change from dilating / eroding the mask by one pixel
  (3 x 3), and how far the mask extends beyond the green pixels (:func:`green_of`: ExG - ExR > 0 on RGB, Meyer &
  Neto 2008; NDVI > 0.3 on red+NIR) -- mask pixels not green (split into clipped-white and the rest, and their
  distance to the nearest green pixel) and green pixels outside the mask, per data set and for weedNet's crop-only
  vs weed-only images.
* **Cross-set** (:func:`cross_set`, the calibration goal): the same classifier and index rule trained on *all* of one
  data set's masks and tested on each other data set whose images carry the same bands (the calibration scope rule:
  RGB <-> RGB only); CWFID's red+NIR masks have no same-camera target, so for them calibration leaves every other
  set's model unchanged.

If zero-shot errors are given (``evaluate-real`` passes its own), each image's line shows them side by side. Nothing
here is part of ``predict``; it reads only the labelled folder. About 10 min for the 36 frames on the loaded 2-core machine.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np

from edgeinv.common.errors import InvalidInputError

from .real_eval import TOLERANCE, _read_mask, read_table

SCALES = (5, 15, 45)          # local-statistics box sides in pixels (0.5 mm frames: 2.5 mm to 2 cm)
TRAIN_PX = 3000               # random training pixels per image
GRID_PX = 60_000              # held-out cover read on a regular grid of about this many pixels
MIN_IMAGES = 3                # leave-one-out needs at least two training images and one held out
INNER_FOLDS = 3
INNER_GRID_STEP = 4           # the inner folds read every 4th grid pixel (about 15,000 per image)
CANDIDATES = ({"max_leaf_nodes": 7, "max_iter": 60}, {"max_leaf_nodes": 31, "max_iter": 100},
              {"max_leaf_nodes": 63, "max_iter": 150})
THRESHOLD_STEP = 0.0025
GREEN_RULE = {"rgb": ("exg_exr", 0.0), "red_nir": ("ndvi", 0.3)}
SEED = 0


# ---------------------------------------------------------------- per-pixel features of what the camera gives
def _box(x: np.ndarray, side: int) -> np.ndarray:
    import cv2

    return cv2.blur(x, (side, side), borderType=cv2.BORDER_REFLECT)


def _family(band_names) -> str:
    return "rgb" if all(b in band_names for b in ("red", "green", "blue")) else "red_nir"


def indices(bands: np.ndarray, band_names) -> tuple[str, dict[str, np.ndarray]]:
    """``(camera family, {index name: map})``: RGB -> chromatic ExG and ExG - ExR (plus r, g, b, ExR);
    red+NIR -> NDVI (plus red, nir). Camera counts as read (no calibration)."""
    from .features import chromatic, ndvi

    names = list(band_names)
    if all(b in names for b in ("red", "green", "blue")):
        rc, gc, bc = chromatic(*(np.asarray(bands[names.index(k)], np.float32) for k in ("red", "green", "blue")))
        exg, exr = 2 * gc - rc - bc, 1.4 * rc - gc  # features.excess_green / excess_red of the same coordinates
        return "rgb", {"exg": exg, "exg_exr": exg - exr, "exr": exr, "rc": rc, "gc": gc, "bc": bc}
    if "red" in names and "nir" in names:
        red, nir = (np.asarray(bands[names.index(k)], np.float32) for k in ("red", "nir"))
        return "red_nir", {"ndvi": ndvi(red, nir), "red": red, "nir": nir}
    raise InvalidInputError(f"no index family for bands {', '.join(names)}")


def pixel_features(bands: np.ndarray, band_names, take, idx: dict | None = None) -> tuple[str, np.ndarray]:
    """``(family, (n, k) float32)``: the features at the pixels ``take`` (flat indices), each map computed at full
    resolution and sampled at once (memory follows one map, not k); ``idx``: :func:`indices`' maps if at hand."""
    family, idx = indices(bands, band_names) if idx is None else (_family(band_names), idx)
    bright = np.asarray(bands, np.float32).mean(axis=0)
    main = idx["exg_exr" if family == "rgb" else "ndvi"]
    cols = []

    def add(m):
        cols.append(m.ravel()[take])

    for m in idx.values():
        add(m)
    add(bright)
    add(np.asarray(bands, np.float32).max(axis=0))
    for side in SCALES:
        for m in (main, bright):
            mu = _box(m, side)
            add(mu)
            add(np.sqrt(np.maximum(_box(m * m, side) - mu * mu, 0.0)))
    return family, np.stack(cols, axis=1).astype(np.float32)


# ---------------------------------------------------------------- one data set's images, read once
def _grid(h: int, w: int) -> np.ndarray:
    step = max(1, int(round(np.sqrt(h * w / GRID_PX))))
    rows, cols = np.arange(step // 2, h, step), np.arange(step // 2, w, step)
    return (rows[:, None] * w + cols[None, :]).ravel()


def read_sets(app, data_dir: Path, *, progress: bool = False) -> dict[str, list[dict]]:
    """Per data set, per image: training pixels (features, labels), the held-out grid (features, labels), the
    index maps' cover-vs-threshold curves and the boundary figures -- everything later steps need, read once."""
    data_dir = Path(data_dir)
    table = read_table(data_dir, ("dataset", "image", "mask", "true_fvc"))
    sets: dict[str, list[dict]] = {}
    for i, rec in enumerate(table):
        path = data_dir / rec["image"]
        sample = app.read(path, filename=path.name)
        img = sample.load()
        h, w = img.bands.shape[1:]
        truth = float(rec["true_fvc"])
        mask = _read_mask(data_dir / rec["mask"], truth, (h, w))
        if mask is None:
            raise InvalidInputError(f"{rec['mask']}: not a {w} x {h} mask of {rec['image']} matching its true_fvc")
        rng = np.random.default_rng([SEED, zlib.crc32(Path(rec["image"]).name.encode())])  # same pixels in any table
        train = rng.choice(h * w, size=min(TRAIN_PX, h * w), replace=False)
        grid = _grid(h, w)
        family, idx = indices(img.bands, img.band_names)
        _, x = pixel_features(img.bands, img.band_names, np.concatenate([train, grid]), idx)
        flat = mask.ravel()
        entry = {"image": rec["image"], "true_fvc": truth, "family": family, "x_train": x[:train.size],
                 "y_train": flat[train], "x_grid": x[train.size:], "y_grid": flat[grid],
                 "grid_cover": float(flat[grid].mean()), "curves": _curves(idx, family),
                 "boundary": boundary(img.bands, img.band_names, mask, idx)}
        del img, idx, x
        sets.setdefault(rec["dataset"], []).append(entry)
        if progress:
            print(f"[ceiling {i + 1}/{len(table)}] {rec['image']} read", file=sys.stderr, flush=True)
    return sets


RULE_INDICES = {"rgb": ("exg", "exg_exr"), "red_nir": ("ndvi",)}


def _thresholds(name: str) -> np.ndarray:
    lo, hi = {"exg": (-1.0, 2.0), "exg_exr": (-2.4, 2.0), "ndvi": (-1.0, 1.0)}[name]
    return np.arange(lo, hi + THRESHOLD_STEP / 2, THRESHOLD_STEP)


def _curves(idx: dict, family: str) -> dict[str, np.ndarray]:
    """Per rule index: the image's cover (share of pixels above) at every threshold of :func:`_thresholds`."""
    out = {}
    for name in RULE_INDICES[family]:
        v = np.sort(idx[name].ravel())
        t = _thresholds(name)
        out[name] = 1.0 - np.searchsorted(v, t, side="right") / v.size
    return out


# ---------------------------------------------------------------- b. the label's own boundary
def green_of(family: str, idx: dict) -> np.ndarray:
    name, t = GREEN_RULE[family]
    return idx[name] > t


def boundary(bands: np.ndarray, band_names, mask: np.ndarray, idx: dict | None = None) -> dict:
    """One image's label-boundary figures (cover points as fractions of all pixels): ``dilate`` / ``erode`` = the
    cover change from a 1 px (3 x 3) dilation / erosion of the mask; ``beyond_green`` = mask pixels that are not
    green (of them ``beyond_green_clipped``: every channel at full scale, no colour), ``green_outside`` = green
    pixels outside the mask, ``beyond_green_px_median`` / ``_p90`` = distance of the non-green, unclipped mask pixels
    to the nearest green pixel."""
    from scipy.ndimage import binary_dilation, binary_erosion, distance_transform_edt

    from .confidence import saturated

    k = np.ones((3, 3), bool)
    n = mask.size
    family, idx = indices(bands, band_names) if idx is None else (_family(band_names), idx)
    green = green_of(family, idx)
    clipped = saturated(bands)
    beyond = mask & ~green
    beyond_open = beyond & ~clipped
    out = {"dilate": float(binary_dilation(mask, k).sum() - mask.sum()) / n,
           "erode": float(mask.sum() - binary_erosion(mask, k, border_value=1).sum()) / n,
           "beyond_green": float(beyond.sum()) / n, "beyond_green_clipped": float((beyond & clipped).sum()) / n,
           "green_outside": float((green & ~mask).sum()) / n}
    if beyond_open.any() and green.any():
        d = distance_transform_edt(~green)[beyond_open]
        out.update(beyond_green_px_median=float(np.median(d)), beyond_green_px_p90=float(np.percentile(d, 90)))
    return out


# ---------------------------------------------------------------- a. own-data ceilings, leave one image out
def _fit(x: np.ndarray, y: np.ndarray, params: dict):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(learning_rate=0.1, early_stopping=False, random_state=SEED,
                                          **params).fit(x, y)


def _cover(model, x: np.ndarray) -> float:
    return float(model.predict(x).mean())


def _choose(entries: list[dict]) -> tuple[dict, list[float]]:
    """The candidate with the least cover MAE over a split of ``entries`` into :data:`INNER_FOLDS` groups of images."""
    folds = [list(range(len(entries)))[k::INNER_FOLDS] for k in range(min(INNER_FOLDS, len(entries)))]
    maes = []
    for params in CANDIDATES:
        errs = []
        for held in folds:
            tr = [e for j, e in enumerate(entries) if j not in held]
            m = _fit(np.concatenate([e["x_train"] for e in tr]), np.concatenate([e["y_train"] for e in tr]), params)
            errs += [abs(_cover(m, entries[j]["x_grid"][::INNER_GRID_STEP]) - entries[j]["true_fvc"]) for j in held]
        maes.append(float(np.mean(errs)))
    return CANDIDATES[int(np.argmin(maes))], maes


def own_data(entries: list[dict]) -> list[dict]:
    """Per held-out image: the classifier trained on the others (size chosen on the others) -> cover, error."""
    out = []
    for i, held in enumerate(entries):
        rest = [e for j, e in enumerate(entries) if j != i]
        params, _ = _choose(rest)
        m = _fit(np.concatenate([e["x_train"] for e in rest]), np.concatenate([e["y_train"] for e in rest]), params)
        pred = m.predict(held["x_grid"])
        cover = float(pred.mean())
        out.append({"image": held["image"], "fvc": cover, "error": cover - held["true_fvc"],
                    "pixel_accuracy": float(np.mean(pred == held["y_grid"])),
                    "params": {k: int(v) for k, v in params.items()}})
    return out


def _rule_fit(entries: list[dict]) -> tuple[str, float]:
    """The (index, threshold) of the family minimising the entries' cover MAE."""
    best = None
    for name in entries[0]["curves"]:
        err = np.mean([np.abs(e["curves"][name] - e["true_fvc"]) for e in entries], axis=0)
        k = int(np.argmin(err))
        if best is None or err[k] < best[0]:
            best = (float(err[k]), name, float(_thresholds(name)[k]))
    return best[1], best[2]


def _rule_cover(entry: dict, name: str, threshold: float) -> float:
    k = int(np.argmin(np.abs(_thresholds(name) - threshold)))
    return float(entry["curves"][name][k])


def index_rule(entries: list[dict]) -> list[dict]:
    out = []
    for i, held in enumerate(entries):
        name, t = _rule_fit([e for j, e in enumerate(entries) if j != i])
        cover = _rule_cover(held, name, t)
        out.append({"image": held["image"], "fvc": cover, "error": cover - held["true_fvc"], "rule": f"{name} > {t:+.4f}"})
    return out


def _stats(rows: list[dict]) -> dict:
    e = np.array([r["error"] for r in rows], float)
    return {"n": int(e.size), "within": int(np.sum(np.abs(e) <= TOLERANCE)), "mae": float(np.mean(np.abs(e))),
            "bias": float(np.mean(e)), "max_abs": float(np.max(np.abs(e)))}


# ---------------------------------------------------------------- c. cross-set (the calibration goal)
def cross_set(sets: dict[str, list[dict]]) -> list[dict]:
    """Trained on all of one data set's masks (size chosen on them), tested on every other set of the same family."""
    out = []
    for src, s_entries in sets.items():
        targets = [t for t in sets if t != src and sets[t][0]["family"] == s_entries[0]["family"]]
        if not targets:
            out.append({"source": src, "targets": [], "note": "no other data set from a camera with the same bands: "
                        "the scope rule leaves every other set's model unchanged"})
            continue
        if len(s_entries) < MIN_IMAGES:
            out.append({"source": src, "targets": [], "note": f"fewer than {MIN_IMAGES} images: not trained on"})
            continue
        params, _ = _choose(s_entries)
        m = _fit(np.concatenate([e["x_train"] for e in s_entries]), np.concatenate([e["y_train"] for e in s_entries]),
                 params)
        name, t = _rule_fit(s_entries)
        for tgt in targets:
            cls = [{"image": e["image"], "error": _cover(m, e["x_grid"]) - e["true_fvc"]} for e in sets[tgt]]
            rule = [{"image": e["image"], "error": _rule_cover(e, name, t) - e["true_fvc"]} for e in sets[tgt]]
            out.append({"source": src, "target": tgt, "classifier": _stats(cls), "rule": f"{name} > {t:+.4f}",
                        "index_rule": _stats(rule), "rows": [{"image": c["image"], "classifier_error": c["error"],
                                                              "rule_error": r["error"]} for c, r in zip(cls, rule)]})
    return out


# ---------------------------------------------------------------- the whole ceiling
def ceiling(app, data_dir: Path, *, zero_shot: dict[str, float] | None = None, progress: bool = False) -> dict:
    """Per data set: own-data classifier and index rule (leave one image out), label-boundary figures, and the
    cross-set results; ``zero_shot`` (image -> error of the shipped path) shown beside them. See the module doc."""
    sets = read_sets(app, data_dir, progress=progress)
    zero_shot = zero_shot or {}
    per, rows = {}, []
    for ds, entries in sets.items():
        b = [e["boundary"] for e in entries]
        entry = {"n": len(entries), "family": entries[0]["family"],
                 "grid_max_abs": float(max(abs(e["grid_cover"] - e["true_fvc"]) for e in entries)),
                 "boundary": {k: float(np.mean([x[k] for x in b])) for k in ("dilate", "erode", "beyond_green",
                                                                               "beyond_green_clipped", "green_outside")}}
        half = np.array([(x["dilate"] + x["erode"]) / 2 for x in b])
        entry["boundary"]["half_span_mean"] = float(half.mean())
        entry["boundary"]["images_half_span_over_tolerance"] = int(np.sum(half > TOLERANCE))
        zs = [zero_shot[e["image"]] for e in entries if zero_shot.get(e["image"]) is not None]
        if len(zs) == len(entries):
            entry["zero_shot"] = _stats([{"error": z} for z in zs])
        if len(entries) >= MIN_IMAGES:
            own, rule = own_data(entries), index_rule(entries)
            entry["own_classifier"], entry["own_index_rule"] = _stats(own), _stats(rule)
        else:
            own = rule = [None] * len(entries)
            entry["note"] = f"fewer than {MIN_IMAGES} images: no leave-one-out ceiling"
        kinds = {}
        for e in entries:
            kind = "crop_only" if "_crop" in e["image"] else "weed_only" if "_weed" in e["image"] else None
            if kind:
                kinds.setdefault(kind, []).append(e["boundary"])
        if len(kinds) == 2:
            entry["by_kind"] = {k: {f: float(np.mean([x[f] for x in v])) for f in ("beyond_green", "beyond_green_clipped",
                                                                                      "green_outside", "dilate", "erode")}
                                | {"n": len(v)} for k, v in kinds.items()}
        per[ds] = entry
        for e, o, r in zip(entries, own, rule):
            rows.append({"dataset": ds, "image": e["image"], "true_fvc": e["true_fvc"], "boundary": e["boundary"],
                         "zero_shot_error": zero_shot.get(e["image"]),
                         "own_classifier": o, "own_index_rule": r})
        if progress:
            print(f"[ceiling] {ds}: done", file=sys.stderr, flush=True)
    out = {"per_dataset": per, "rows": rows, "cross_set": cross_set(sets), "tolerance": TOLERANCE,
           "method": {"learner": "sklearn HistGradientBoostingClassifier, size chosen inside each fold from "
                                 f"{list(CANDIDATES)} by a {INNER_FOLDS}-fold split of the training images",
                      "train_px_per_image": TRAIN_PX, "grid_px": GRID_PX, "scales_px": list(SCALES),
                      "green_rule": {k: f"{n} > {t}" for k, (n, t) in GREEN_RULE.items()}}}
    out["text"] = ceiling_text(out)
    return out


def _f(v, fmt="+.3f") -> str:
    return "   -  " if v is None else format(v, fmt)


def ceiling_text(c: dict) -> str:
    tol = c["tolerance"]
    lines = [f"ceiling: what the labels themselves allow (leave one image out within each data set; cover within "
             f"+-{tol}, MAE)",
             f"{'data set':<20} {'n':>3} {'zero-shot':>16} {'own classifier':>16} {'own index rule':>16} "
             f"{'1px half-span':>13} {'dilate':>7} {'erode':>7} {'beyond green':>12} {'green outside':>13}"]

    def cell(s):
        return f"{s['within']:>3}/{s['n']:<2} {s['mae']:.4f}" if s else "         -"

    for ds, e in c["per_dataset"].items():
        b = e["boundary"]
        lines.append(f"{ds:<20} {e['n']:>3} {cell(e.get('zero_shot')):>16} {cell(e.get('own_classifier')):>16} "
                     f"{cell(e.get('own_index_rule')):>16} {b['half_span_mean']:>13.4f} {b['dilate']:>7.4f} "
                     f"{b['erode']:>7.4f} {b['beyond_green']:>12.4f} {b['green_outside']:>13.4f}")
        for k, v in (e.get("by_kind") or {}).items():
            lines.append(f"  {k} ({v['n']}): mask beyond green {v['beyond_green']:.4f} (clipped white "
                         f"{v['beyond_green_clipped']:.4f}), green outside the mask {v['green_outside']:.4f}, "
                         f"dilate {v['dilate']:.4f}, erode {v['erode']:.4f}")
    lines.append("per image (errors; boundary as cover points):")
    for r in c["rows"]:
        o, ru, b = r["own_classifier"], r["own_index_rule"], r["boundary"]
        lines.append(f"  {Path(r['image']).name:<22} true {r['true_fvc']:.3f}  zero-shot {_f(r['zero_shot_error'])}  "
                     f"own classifier {_f(o and o['error'])}  own rule {_f(ru and ru['error'])}  "
                     f"dilate +{b['dilate']:.3f} erode -{b['erode']:.3f}  beyond green {b['beyond_green']:.3f} "
                     f"green outside {b['green_outside']:.3f}")
    lines.append("cross-set (trained on all of one set's masks, tested on another set of the same camera bands):")
    for x in c["cross_set"]:
        if not x.get("targets", True):
            lines.append(f"  {x['source']}: {x['note']}")
            continue
        lines.append(f"  {x['source']} -> {x['target']}: classifier {cell(x['classifier'])}, index rule {x['rule']} "
                     f"{cell(x['index_rule'])}")
    return "\n".join(lines)
