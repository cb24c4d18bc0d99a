"""Cover at any ground resolution, on real spectra: the real frames area-averaged to coarser GSDs.

The 36 labelled real frames are all millimetre-GSD (pure pixels: the segmentation path). What a camera
flown higher would record over the same ground is, per band, the **area average of the radiance** over each
larger pixel -- linear mixing, as the simulator's box average does. So each frame is brought to linear
counts, averaged over k x k blocks (k = target GSD / native GSD), encoded back the way the camera stores
it and quantised to 8 bits, then run through exactly what ``predict --gsd-cm G`` runs (reader, path
choice by GSD, model, interval and flags). The truth does not change with resolution: it is the mask's
share over the same (cropped to whole blocks) area.

Assumptions, said in every record:

* **Native GSD** :data:`NATIVE_GSD_MM` = 0.5 mm for all three sets (none of them states it; a field robot's
  or hand-held camera at 0.3-1 m). Only the ratio k matters for the averaging.
* **Encoding**: RGB frames (weedNet PNGs, Carrot-Weed JPEGs) are sRGB-encoded (consumer cameras): decoded with
  the sRGB transfer function before averaging and re-encoded after. Two-band frames (CWFID: a JAI machine-
  vision camera, whose gamma is off by default) are taken as linear counts. A wrong guess shows as a
  bias that grows with k (averaging gamma-encoded values under-weights the bright class).

Both paths run at every GSD where each applies: the segmentation path (the app's choice up to 1.5 cm) and
the unmixing path (its choice above); the app's own choice with the GSD unknown (``no_gsd``: a frame without map
coordinates, whose path the image decides, ``app.interior_share``); and the index baselines on the same coarse
pixels -- index + Otsu, the fixed threshold, the minimum-error split and the dimidiate pixel model (the classical
coarse-GSD method).
"""

from __future__ import annotations

import io as _io
import sys
from pathlib import Path

import numpy as np

from edgeinv.common.errors import EdgeinvError

from .radiometry import encoding_of, srgb_to_linear  # noqa: F401 (re-exported)

NATIVE_GSD_MM = 0.5
GSD_SWEEP_CM = (0.5, 1.0, 2.0, 4.0, 8.0)
TOLERANCE = 0.03
MIN_SIDE_PX = 2          # a coarse frame smaller than this on a side is not made (too few pixels to mean anything)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    v = np.clip(np.asarray(v, np.float64), 0.0, 1.0)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def block_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over k x k blocks of the last two axes (cropped to whole blocks)."""
    h, w = a.shape[-2] // k * k, a.shape[-1] // k * k
    a = a[..., :h, :w]
    return a.reshape(*a.shape[:-2], h // k, k, w // k, k).mean(axis=(-3, -1))


def coarse_frame(bands: np.ndarray, band_names, k: int) -> bytes:
    """The PNG (8 bit, channels as the camera stored them) a camera k times coarser would have written."""
    from PIL import Image

    enc = encoding_of(band_names)
    lin = srgb_to_linear(bands) if enc == "srgb" else np.asarray(bands, np.float64)
    avg = block_mean(lin, k)
    out = linear_to_srgb(avg) if enc == "srgb" else np.clip(avg, 0.0, 1.0)
    q = np.round(out * 255).astype(np.uint8)
    if q.shape[0] == 2:  # a two-band false-colour frame stored as R = red, G = NIR, B = red (as CWFID's)
        q = q[[0, 1, 0]]
    buf = _io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.moveaxis(q, 0, 2))).save(buf, format="PNG")
    return buf.getvalue()


def _coarse_baselines(sample) -> dict[str, float]:
    from .baseline import dimidiate
    from .features import vegetation_index
    from .real_eval import _baselines

    img = sample.load()
    out = _baselines(sample)
    out.pop("index", None)
    vi, _ = vegetation_index(img.bands, img.band_names)
    out["index_dimidiate"] = float(np.nanmean(dimidiate(vi, valid=img.valid)))
    return out


BASELINES = ("index_otsu", "index_fixed", "index_min_error", "index_dimidiate")
PATHS = ("segment", "unmix", "no_gsd")  # both paths at the GSD, and the app's choice with the GSD unknown


def mask_rows(data_dir: Path) -> list[dict]:
    """The rows of ``fvc_labels.csv`` that name a mask."""
    from .real_eval import read_table

    return [r for r in read_table(data_dir, ("dataset", "image", "mask", "true_fvc")) if r.get("mask")]


def coarse_frames(app, data_dir: Path, rec: dict, gsds_cm=GSD_SWEEP_CM, native_mm: float = NATIVE_GSD_MM):
    """``(gsd_cm, k, native sample, coarse frame bytes, true cover)`` of one labelled image (a row of
    ``fvc_labels.csv``) at each GSD of ``gsds_cm``: the frame area-averaged by ``k`` (:func:`coarse_frame`) and the
    mask's share over the same whole blocks; none for an unreadable image or mask, or a GSD leaving too few pixels."""
    from .real_eval import _read_mask

    path = Path(data_dir) / rec["image"]
    try:
        native = app.read(path, filename=path.name).load()
    except EdgeinvError:
        return
    mask = _read_mask(Path(data_dir) / rec["mask"], float(rec["true_fvc"]), (native.height, native.width))
    if mask is None:
        return
    for gsd in gsds_cm:
        k = max(1, int(round(gsd * 10.0 / native_mm)))
        if min(native.height, native.width) // k < MIN_SIDE_PX:
            continue
        yield (gsd, k, native, coarse_frame(native.bands, native.band_names, k),
               float(block_mean(mask.astype(np.float64), k).mean()))


def evaluate_gsd(app, data_dir: Path, runner_for, *, gsds_cm=GSD_SWEEP_CM, native_mm: float = NATIVE_GSD_MM,
                 progress: bool = False) -> dict:
    """Per data set, GSD and path: the app's cover error and the index baselines' (see the module docstring)."""
    from .app import SEGMENT_MAX_GSD_M

    rows = []
    table = mask_rows(data_dir)
    for i, rec in enumerate(table):
        path = Path(data_dir) / rec["image"]
        for gsd, k, native, data, truth in coarse_frames(app, data_dir, rec, gsds_cm, native_mm):
            auto = "segment" if gsd / 100.0 <= SEGMENT_MAX_GSD_M else "unmix"
            row = {"dataset": rec["dataset"], "image": rec["image"], "gsd_cm": float(gsd), "k": k,
                   "encoding": encoding_of(native.band_names), "true_fvc": truth, "auto_path": auto, "paths": {}}
            for p in PATHS:
                try:  # "no_gsd": the app's own choice with the GSD unknown (a frame without map coordinates)
                    known = {} if p == "no_gsd" else {"gsd_cm": gsd, "path": p}
                    sample = app.read(data, filename=f"{path.stem}@{gsd:g}cm.png", **known)
                    config = app.config_for(sample)
                    res = app.predict(sample, runner_for(config))
                    e = res.extra
                    err = res.fvc_mean - truth
                    row["paths"][p] = {"config": config, "path": e.get("path"), "fvc": res.fvc_mean, "error": err,
                                       "within": bool(abs(err) <= TOLERANCE),
                                       "fvc_uncertainty": e.get("fvc_uncertainty"),
                                       "in_interval": bool(abs(err) <= (e.get("fvc_uncertainty") or 0.0)),
                                       "ood": bool(e.get("ood")), "ood_reasons": e.get("ood_reasons")}
                    if "baselines" not in row:
                        row["baselines"] = {b: v - truth for b, v in _coarse_baselines(sample).items()}
                except EdgeinvError as exc:
                    row["paths"][p] = {"failure": f"{type(exc).__name__}: {exc}"}
            rows.append(row)
        if progress:
            print(f"[gsd {i + 1}/{len(table)}] {rec['image']}", file=sys.stderr, flush=True)
    summary = summarise(rows)
    return {"summary": summary, "rows": rows, "native_gsd_mm": native_mm, "gsds_cm": [float(g) for g in gsds_cm],
            "assumptions": {"native_gsd_mm": native_mm,
                            "encoding": "RGB frames sRGB (decoded before averaging, re-encoded after); two-band "
                                        "frames linear counts", "quantisation": "8 bit after averaging",
                            "truth": "the mask's share over the same area (whole blocks)"},
            "text": format_gsd(summary)}


def _stats(errors) -> dict:
    e = np.asarray([x for x in errors if x is not None], float)
    if not e.size:
        return {"n": 0}
    return {"n": int(e.size), "within": int(np.sum(np.abs(e) <= TOLERANCE)), "mae": float(np.mean(np.abs(e))),
            "bias": float(np.mean(e))}


def summarise(rows: list[dict]) -> dict:
    out = {}
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        per = {}
        for gsd in dict.fromkeys(r["gsd_cm"] for r in rows if r["dataset"] == ds):
            rs = [r for r in rows if r["dataset"] == ds and r["gsd_cm"] == gsd]
            entry = {"auto_path": rs[0]["auto_path"]}
            for p in PATHS:
                got = [r["paths"][p] for r in rs if p in r["paths"]]
                ok = [g for g in got if "error" in g]
                entry[p] = {**_stats([g["error"] for g in ok]), "failures": len(got) - len(ok),
                            "ood_flagged": int(sum(g["ood"] for g in ok)),
                            "unmixed": int(sum(g.get("path") == "unmix" for g in ok)),
                            "in_interval": int(sum(g["in_interval"] for g in ok)),
                            "within_when_not_flagged": int(sum(g["within"] for g in ok if not g["ood"])),
                            "not_flagged": int(sum(not g["ood"] for g in ok))}
            entry["app"] = entry[entry["auto_path"]]
            b = {name: _stats([r["baselines"][name] for r in rs if "baselines" in r]) for name in BASELINES}
            entry["baselines"] = b
            best = min((n for n in b if b[n].get("n")), key=lambda n: b[n]["mae"], default=None)
            entry["best_baseline"] = best
            entry["app_beats_best_baseline"] = bool(best and entry["app"].get("n")
                                                    and entry["app"]["mae"] < b[best]["mae"])
            per[f"{gsd:g}"] = entry
        out[ds] = per
    return {"per_dataset": out, "tolerance": TOLERANCE}


def format_gsd(summary: dict) -> str:
    def f(s):
        return "failed" if not s.get("n") else f"{s['mae']:.4f} {s['within']:>2}/{s['n']:<2} {s['bias']:+.3f}"

    head = (f"{'dataset':<20} {'GSD cm':>6} {'path':>7}  {'app MAE win bias':<22} {'OOD':>4} {'segment':<22} "
            f"{'unmix':<22} {'GSD unknown (n unmixed)':<27} {'otsu':>7} {'fixed':>7} {'min-err':>7} {'dimid':>7}")
    lines = [head, "-" * len(head)]
    for ds, per in summary["per_dataset"].items():
        for gsd, e in per.items():
            b = e["baselines"]
            lines.append(f"{ds:<20} {gsd:>6} {e['auto_path']:>7}  {f(e['app']):<22} {e['app'].get('ood_flagged', 0):>4} "
                         f"{f(e['segment']):<22} {f(e['unmix']):<22} "
                         f"{f(e['no_gsd']) + ' (' + str(e['no_gsd'].get('unmixed', 0)) + ')':<27} "
                         + " ".join(f"{b[n].get('mae', float('nan')):>7.4f}" for n in BASELINES))
    return "\n".join(lines)
