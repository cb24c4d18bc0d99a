"""How far to trust one image's cover: the cover interval, and the out-of-distribution / low-confidence flag with its reasons.

Segmentation path: the model gives P(vegetation) per pixel; the mask is P > 0.5 and the cover its
share. :class:`SegmentSink` also counts the pixels above 0.4 and 0.6, which bound the cover by the
pixels whose decision would flip if the model's output moved by 0.1 (leaf edges, shadows,
highlights), and the vegetation pixels on the mask's boundary, half of which widen the interval on
either side (an edge pixel is part leaf: where a boundary is drawn is a matter of definition to a
pixel): the *cover interval*. The
image is flagged when the interval is wide, when the image shows no clear vegetation/background
clusters, when many pixels are unlike both clusters (a material the levels do not describe), or when
the two clusters are too uniform to be leaves and background (:data:`MAX_SEPARATION`: two flat
surfaces, the upper one maybe no vegetation; the interval then reaches down to 0). From a known GSD of
:data:`SUBPIXEL_MIN_GSD_M` the mask's boundary pixels count by their leaf fraction
(:func:`subpixel_fraction`).

Fractional-cover path: the interval is the mean cover +- the mean predicted pixel sd (errors of
neighbouring pixels are correlated, so their sd does not average away); flagged when uncalibrated
camera counts feed a model trained on reflectance, when the GSD is outside the simulated range, or
when the mean predicted sd is high.
"""

from __future__ import annotations

import numpy as np

from .cameras import GSD_RANGE_M

P_LOW, P_HIGH = 0.4, 0.6  # a pixel whose decision flips if the model's output moved by 0.1 is "ambiguous"
MAX_AMBIGUOUS = 0.10      # interval width (share of ambiguous pixels) above which the image is flagged
MAX_OFF_CLUSTER = 0.10    # share of pixels far beyond both clusters' levels along their discriminant
OFF_LINE_SIGMA = 5.0      # Mahalanobis distance from the soil-vegetation line that counts as "another material"
MIN_SEPARATION = 2.0      # d' of the two clusters along their discriminant
MAX_MEAN_STD = 0.12       # fractional-cover path: mean predicted sd
MAX_CONFLICT = 0.05       # share of pixels whose brightness and colour cues disagree (features.cue_conflict) or
                          # that clipped in every channel (camera counts: :func:`saturated`)
MAX_CLIPPED = 0.02        # share of camera-count pixels with a channel at full scale (colour unknown)
CLIP_LEVEL = 0.98         # "at full scale" for DN / full scale
MAX_SEPARATION = 10.0     # segmentation path: d' of the two clusters above this -- two flat, uniform surfaces (a tray
                          # or crate and soil, two soils), not leaves and background; above the largest d' of any
                          # held-out simulated frame whose upper cluster was vegetation (8.1 over 225 frames, seed
                          # 200001; docs/apps/veg_cover_trials/uniform_clusters.py)
SUBPIXEL_MIN_GSD_M = 0.003  # segmentation path at a known GSD from 0.3 cm: the mask's boundary pixels count by their
                            # sub-pixel leaf fraction (:func:`subpixel_fraction`); finer or unknown, each counts whole
CROSS_CHECK = 0.03        # unmixing path on camera counts: the model and the image's own cluster split may differ
                          # by this much (the real-data tolerance: beyond it, at least one of the two misses it)


def saturated(bands: np.ndarray) -> np.ndarray:
    """Camera-count pixels at full scale in *every* channel: their colour is unknown (white), not measured.

    The network reads brightness alone there (a white tray and an over-exposed pale leaf look the same), so
    on the segmentation path they count as unsure pixels (pixel sd 0.5, the cover interval widened by them).
    Deciding them from the surrounding surface instead (the share of vegetation among the unsaturated pixels
    within 4 px, exact with the tiles' margin) was measured on 150 held-out simulated RGB frames and not
    taken: pixel accuracy on saturated pixels 0.749 -> 0.782 but frame cover MAE 0.0920 -> 0.0927 on the 60
    frames with saturation (see docs/apps/veg_cover.md).
    """
    return np.all(np.asarray(bands) >= CLIP_LEVEL, axis=0)


def subpixel_fraction(probability: np.ndarray, fisher: np.ndarray) -> np.ndarray:
    """Cover per pixel where pixels are mixed: the mask (P > 0.5) inside, and on either side of its boundary the
    pixel's position between the image's two levels along their discriminant (``fisher``, 0 at the background
    level, 1 at the vegetation level), clipped to 0..1.

    The discriminant is linear in the band values, so for a pixel that is a linear (area) mix of the two levels
    it *is* the leaf's share of the pixel: a pixel half leaf counts half. Only the boundary is unmixed: inside a
    leaf or a patch of soil the coordinate moves with shade and leaf angle, not with the share of leaf (the
    whole-image version of this was measured worse, ``gsd_cluster_unmix.py``). Held-out simulated frames
    (``uniform_clusters.py``) and the real GSD sweep: see docs/apps/veg_cover.md.
    """
    veg = probability > 0.5
    return np.where(boundary(veg), np.clip(fisher, 0.0, 1.0), veg).astype(np.float32)


def boundary(veg: np.ndarray) -> np.ndarray:
    """Pixels on either side of a mask's boundary (4-neighbours): those a 1 px shift of the line would flip."""
    rim = np.zeros_like(veg)
    rim[:, :-1] |= veg[:, :-1] != veg[:, 1:]
    rim[:, 1:] |= veg[:, :-1] != veg[:, 1:]
    rim[:-1] |= veg[:-1] != veg[1:]
    rim[1:] |= veg[:-1] != veg[1:]
    return rim


class SegmentSink:
    """Turns P(vegetation) windows into the mask for ``sinks`` and counts the pixels per confidence band.

    The sinks get the mask (P > 0.5) as cover and, as its pixel sd, 0.5 where the decision is
    ambiguous (P_LOW < P < P_HIGH), the pixel is on either side of the mask's boundary, or its
    brightness and colour cues disagree (``std`` of the window, :func:`.features.cue_conflict`), and 0
    elsewhere, so a zone's mean sd is half its share of such pixels (the zone's low-confidence flag).
    When ``std`` has a trailing axis of two (mixed pixels, :data:`SUBPIXEL_MIN_GSD_M`), its second plane is
    the window's cover with the boundary pixels unmixed (:func:`subpixel_fraction`, computed on the tile with
    its margin), which the sinks get instead of the mask.
    """

    def __init__(self, sinks: list, *, keep_shape: tuple[int, int] | None = None):
        self.sinks = sinks
        self.probability = None if keep_shape is None else np.full(keep_shape, np.nan, np.float32)
        self.n = 0
        self.n_low = 0    # P > P_LOW
        self.n_mid = 0    # P > 0.5
        self.n_high = 0   # P > P_HIGH
        self.n_edge = 0   # mask pixels on the vegetation/background boundary
        self.n_conflict_in = 0   # pixels in the mask whose brightness and colour cues disagree
        self.n_conflict_out = 0  # ... outside the mask

    def add(self, *, row, col, cover, std, valid):
        fraction = None
        if std is not None and np.ndim(std) == 3:
            std, fraction = std[..., 0], std[..., 1]
        p = cover[valid]
        self.n += int(p.size)
        self.n_low += int(np.count_nonzero(p > P_LOW))
        self.n_mid += int(np.count_nonzero(p > 0.5))
        self.n_high += int(np.count_nonzero(p > P_HIGH))
        if self.probability is not None:
            h, w = cover.shape
            self.probability[row:row + h, col:col + w] = np.where(valid, cover, np.nan)
        mask = (cover > 0.5).astype(np.float32)
        veg = mask > 0
        edge = np.zeros_like(veg)
        edge[:, :-1] |= (veg[:, :-1] != veg[:, 1:]) & veg[:, :-1]
        edge[:, 1:] |= (veg[:, :-1] != veg[:, 1:]) & veg[:, 1:]
        edge[:-1] |= (veg[:-1] != veg[1:]) & veg[:-1]
        edge[1:] |= (veg[:-1] != veg[1:]) & veg[1:]
        self.n_edge += int(np.count_nonzero(edge & valid))
        rim = boundary(veg)  # both sides of the boundary: the pixels a 1 px shift of the line would flip
        # pixel sd of the mask: 0.5 (a coin flip) where the decision is ambiguous or the pixel is on either
        # side of the mask's boundary (part leaf, part background: where a hand-drawn mask puts the line is
        # a matter of definition to a pixel), 0 where it is clear
        conflict = np.zeros_like(veg) if std is None else np.asarray(std) >= 0.5
        self.n_conflict_in += int(np.count_nonzero(conflict & veg & valid))
        self.n_conflict_out += int(np.count_nonzero(conflict & ~veg & valid))
        sd = np.where(((cover > P_LOW) & (cover < P_HIGH)) | rim | conflict, 0.5, 0.0).astype(np.float32)
        out = mask if fraction is None else np.asarray(fraction, np.float32)
        for s in self.sinks:
            s.add(row=row, col=col, cover=out, std=sd, valid=valid)


def assess(result, *, sample, config: str, levels, stats: SegmentSink | None, pure=None) -> dict:
    """The ``extra`` block of a result: path, radiometry, cover interval, OOD flag and reasons."""
    from .app import SEGMENT_MAX_GSD_M, gsd_m_of, path_for

    meta = getattr(sample, "meta", {}) or {}
    path, why = path_for(sample)
    extra = {"path": "segment" if stats is not None else "unmix", "path_reason": why,
             "radiometry": meta.get("radiometry", "unknown")}
    for k in ("band_mapping", "exif_orientation"):
        if meta.get(k) is not None:
            extra[k] = meta[k]
    reasons = []
    fvc = result.fvc_mean
    if fvc is None:
        extra.update(fvc_interval=None, fvc_uncertainty=None, ood=True, ood_reasons=["no valid pixels"])
        return extra
    if stats is not None and stats.n:
        # ambiguous pixels bound the cover; the mask's edge pixels are part leaf, part background, so
        # a hand-drawn mask may put the boundary a pixel further out or in: half of them either way
        # and where brightness and colour disagree, the other cue could be the right one: those pixels
        # widen the interval on their side
        edge = stats.n_edge / stats.n
        c_in, c_out = stats.n_conflict_in / stats.n, stats.n_conflict_out / stats.n
        lo, hi = stats.n_high / stats.n - 0.5 * edge - c_in, stats.n_low / stats.n + 0.5 * edge + c_out
        extra["edge_share"] = edge
        extra["conflict_share"] = c_in + c_out
        if c_in + c_out > MAX_CONFLICT:
            reasons.append(f"brightness and colour disagree or every channel clipped on {100 * (c_in + c_out):.0f} % "
                           "of pixels (shade, over-exposure or tinted surfaces)")
        extra["levels"] = levels.to_dict()
        if not levels.found:
            reasons.append("no separate vegetation and background clusters (all soil, all canopy, or no contrast)")
        elif levels.separation < MIN_SEPARATION:
            reasons.append(f"weak vegetation/background contrast (d' {levels.separation:.1f} < {MIN_SEPARATION:g})")
        elif levels.separation > MAX_SEPARATION:
            # leaves vary (angle, shade, chlorophyll); two clusters this uniform are flat surfaces -- a tray or crate
            # and soil, two soils -- and the upper one may hold no vegetation at all: the cover may be anything
            # down to none
            reasons.append(f"two unusually uniform clusters (d' {levels.separation:.0f} > {MAX_SEPARATION:g}): flat "
                           "surfaces such as a tray, crate or two soils; the upper one may not be vegetation")
            lo = 0.0
        ambiguous = (stats.n_low - stats.n_high) / stats.n
        if ambiguous > MAX_AMBIGUOUS:
            reasons.append(f"{100 * ambiguous:.0f} % of pixels ambiguous ({P_LOW:g} < P < {P_HIGH:g})")
        from .radiometry import sample_pixels

        bands, valid = sample_pixels(sample)
        off, clipped = _off_cluster_share(bands, sample.band_names, levels, valid=valid)
        extra["off_cluster_share"] = off
        if off > MAX_OFF_CLUSTER:
            reasons.append(f"{100 * off:.0f} % of pixels unlike both the vegetation and the background cluster")
        gsd = gsd_m_of(sample)
        if gsd is not None and gsd > SEGMENT_MAX_GSD_M:  # --path segment at a GSD the app would unmix
            reasons.append(f"GSD {gsd * 100:.2g} cm > {SEGMENT_MAX_GSD_M * 100:g} cm: pixels mix leaf and background, "
                           "and a mask counts each as all or nothing (--path unmix is the path for mixed pixels)")
        if extra["radiometry"] == "dn":
            extra["clipped_share"] = clipped
            if clipped > MAX_CLIPPED:
                reasons.append(f"over-exposed: {100 * clipped:.0f} % of pixels have a channel at full scale")
    elif pure is not None:
        lo, hi, more = _assess_counts(fvc, sample, pure)
        extra.update(more)
        reasons += more["reasons"]
        del extra["reasons"]
    else:
        sd = result.confidence_std or 0.0
        lo, hi = max(0.0, fvc - sd), min(1.0, fvc + sd)
        if extra["radiometry"] == "dn" and config != "rgb":
            reasons.append("uncalibrated camera counts (DN) fed to a model trained on reflectance; "
                           "pass --reflectance-scale or use --path segment")
        if extra["radiometry"] == "dn":
            # camera counts carry no absolute scale: cross-check the model with an estimate that needs none, the
            # share of pixels on the vegetation side of the image's own two-cluster split; where they disagree by
            # more than CROSS_CHECK either could be the right one: flagged, and the interval spans both
            split = cluster_split_cover(sample, config)
            if split is not None:
                extra["cluster_split_cover"] = split
                if abs(split - fvc) > CROSS_CHECK:
                    reasons.append(f"the model ({fvc:.2f}) and the image's own vegetation/background split "
                                   f"({split:.2f}) disagree on uncalibrated counts")
                lo, hi = min(lo, split), max(hi, split)
        gsd = gsd_m_of(sample)  # the GSD the path was chosen by (--gsd-cm, else the GeoTIFF's)
        if gsd is not None and not GSD_RANGE_M[0] * 0.8 <= gsd <= GSD_RANGE_M[1] * 1.5:
            reasons.append(f"GSD {gsd * 100:.2g} cm outside the simulated {GSD_RANGE_M[0] * 100:g}-"
                           f"{GSD_RANGE_M[1] * 100:g} cm")
        if sd > MAX_MEAN_STD:
            reasons.append(f"mean predicted sd {sd:.2f} > {MAX_MEAN_STD:g}")
    lo, hi = max(0.0, min(lo, fvc)), min(1.0, max(hi, fvc))
    extra.update(fvc_interval=[float(lo), float(hi)], fvc_uncertainty=float(max(hi - fvc, fvc - lo, 0.005)),
                 ood=bool(reasons), ood_reasons=reasons)
    return extra


def _assess_counts(fvc: float, sample, pure) -> tuple[float, float, dict]:
    """Interval and flags of the linear unmixing of camera counts (:func:`.radiometry.pure_levels`).

    The interval spans the cover with two definitions of each pure level (interior mean and median) and the cover
    +- (0.01 + ``REL_UNCERTAINTY`` x the cover: the error of unflagged results on the design frames). No
    pure vegetation (fewer than ``PURE_FLAG_PX`` interior pixels): the vegetation level is only bounded (it is at
    least the purest observed; the cover is shrunk by ``NO_PURE_RATIO``), flagged, interval ``NO_PURE_RANGE`` x the
    cover with the purest observed level. An unusually uniform upper
    cluster (a tray, crate or second soil: it may hold no vegetation), or one not greener / NIR-brighter than the
    background in relative terms (:attr:`.radiometry.PureLevels.not_green`): flagged, interval down to 0. Many pixels
    unlike both clusters (another material: :data:`MAX_OFF_CLUSTER`): flagged. A cover above
    :data:`.radiometry.MAX_SPLIT_EXCESS` x the share of pixels on the vegetation side (most of it from background-side
    pixels): flagged, interval down to that share. Resolved plants (:data:`.radiometry.UNDER_SPLIT_INTERIOR` of the
    vegetation pixels interior) with a cover more than :data:`.radiometry.UNDER_SPLIT_GAP` below that share (shaded
    leaves counted as part soil): flagged, interval up to it. The cover clipped per pixel (the map) and unclipped
    differing by more than :data:`.radiometry.CLIP_BIAS_MAX` (textured soil or spread leaves beyond the levels):
    flagged, interval spanning both. The image's chromatic split above :data:`.radiometry.MAX_CHROMA_EXCESS` x the
    cover (shaded leaves counted as part soil): flagged, interval up to it.
    """
    from .features import select_bands
    from .radiometry import (CLIP_BIAS_MAX, MAX_CHROMA_EXCESS, MAX_SPLIT_EXCESS, MIN_GREENNESS, NO_PURE_RANGE,
                             NO_PURE_RATIO, PURE_FLAG_PX, REL_UNCERTAINTY, UNDER_SPLIT_GAP, UNDER_SPLIT_INTERIOR,
                             linear_counts, sample_pixels)

    reasons = []
    # the image mean of (t - s) / (v - s) with the other definitions of s and v (unclipped, so a ratio of differences)
    alt = [fvc * (pure.veg - pure.soil) / max(v - s, 1e-6) + (pure.soil - s) / max(v - s, 1e-6)
           for v in (pure.veg, pure.veg_median) for s in (pure.soil, pure.soil_mean)]
    half = 0.01 + REL_UNCERTAINTY * fvc
    lo, hi = min(alt + [fvc - half]), max(alt + [fvc + half])
    if not pure.pure:
        reasons.append(f"no pure vegetation at this ground resolution ({pure.n_pure_veg} < {PURE_FLAG_PX} pixels with "
                       "all neighbours vegetation: plants a few pixels wide): the vegetation level is extrapolated beyond "
                       "the purest observed")
        unshrunk = fvc / NO_PURE_RATIO  # the cover with the purest observed level (what NO_PURE_RANGE was measured on)
        lo, hi = min(lo, NO_PURE_RANGE[0] * unshrunk), max(hi, NO_PURE_RANGE[1] * unshrunk)
    if pure.flat:
        reasons.append(f"the upper cluster is unusually uniform (spread {pure.spread:.2f}, {pure.n_pure_veg} of "
                       f"{pure.n_veg} pixels interior): a flat surface such as a tray, crate or second soil; it may "
                       "not be vegetation")
        lo = 0.0
    if pure.not_green:
        reasons.append(f"the upper cluster is not greener than the background in relative terms (band-ratio "
                       f"contrast {pure.greenness:+.2f} < {MIN_GREENNESS:g}): a tray, crate, cloth or second soil "
                       "rather than vegetation; the cover may be anything down to none")
        lo = 0.0
    split = float(pure.levels.veg_share)
    if fvc > MAX_SPLIT_EXCESS * split + 0.005:
        reasons.append(f"the unmixed cover ({fvc:.2f}) is more than {MAX_SPLIT_EXCESS:g} x the share of pixels on the "
                       f"vegetation side ({split:.2f}): most of it comes from background pixels (textured soil or a "
                       "second, brighter background read as part vegetation)")
        lo = min(lo, split)
    if pure.n_pure_veg >= UNDER_SPLIT_INTERIOR * pure.n_veg and split - fvc > UNDER_SPLIT_GAP:
        reasons.append(f"plants resolved ({100 * pure.n_pure_veg / max(pure.n_veg, 1):.0f} % of vegetation pixels "
                       f"interior) but the unmixed cover ({fvc:.2f}) is well below the share of vegetation pixels "
                       f"({split:.2f}): shaded or turned leaves are darker than the vegetation level and count as "
                       "part soil")
        hi = max(hi, split)
    bias = None if pure.cover is None or pure.cover_unclipped is None else pure.cover - pure.cover_unclipped
    if bias is not None and abs(bias) > CLIP_BIAS_MAX:
        other = fvc - bias  # the image's cover with the pixels beyond the levels counted as they are
        reasons.append(f"the cover depends on how pixels beyond the pure levels count ({fvc:.3f} clipped to 0-1 per "
                       f"pixel, {other:.3f} unclipped): the background's texture or the leaves' spread is a large part "
                       "of the contrast")
        lo, hi = min(lo, other), max(hi, other)
    chroma = pure.chroma_split
    if chroma is not None and chroma > MAX_CHROMA_EXCESS * fvc + 0.005:
        reasons.append(f"the image's colour, which shade does not change, puts {chroma:.2f} of the pixels on the "
                       f"vegetation side, more than {MAX_CHROMA_EXCESS:g} x the unmixed cover ({fvc:.2f}): leaves in "
                       "shade or turned from the sun count as part soil")
        hi = max(hi, chroma)
    bands, valid = sample_pixels(sample)
    raw = select_bands(bands, sample.band_names, _fine_of(pure))
    off, _ = _off_cluster_share(raw, pure.levels.bands, pure.levels, valid=valid,
                                decode=lambda x: linear_counts(x, pure.levels.bands)[0])
    ok = np.ones(raw.shape[1:], bool) if valid is None else np.asarray(valid, bool)
    clipped = float(np.count_nonzero(np.any(raw >= CLIP_LEVEL, axis=0) & ok) / max(int(ok.sum()), 1))
    if off > MAX_OFF_CLUSTER:
        reasons.append(f"{100 * off:.0f} % of pixels unlike both the vegetation and the background cluster")
    if clipped > MAX_CLIPPED:
        reasons.append(f"over-exposed: {100 * clipped:.0f} % of pixels have a channel at full scale")
    more = {"unmixing": "linear, of the camera counts between the image's pure soil and vegetation levels",
            "pure_levels": pure.to_dict(), "off_cluster_share": off, "clipped_share": clipped, "reasons": reasons}
    return max(0.0, lo), min(1.0, hi), more


def _fine_of(pure) -> str:
    """The segmentation config whose bands the pure levels were found on (red + NIR or RGB)."""
    from .cameras import config_for_roles, fine_config_for

    return fine_config_for(config_for_roles(pure.levels.bands))


def cluster_split_cover(sample, config: str) -> float | None:
    """The share of (subsampled) pixels on the vegetation side of the image's two-cluster split over the bands of
    ``config``'s camera (:func:`.radiometry.image_levels`: minimum-error split refined along Fisher's discriminant);
    invariant to per-band gain and offset, so it needs no calibration. None if the image lacks those bands."""
    from .cameras import fine_config_for
    from .features import FEATURES, select_bands
    from .radiometry import image_levels, sample_pixels

    fine = config if config in FEATURES and config.endswith("_fine") else fine_config_for(config)
    needed = FEATURES[fine][0]
    if not set(needed) <= set(sample.band_names):
        return None
    bands, valid = sample_pixels(sample)
    return float(image_levels(select_bands(bands, sample.band_names, fine), needed, valid).veg_share)


def _off_cluster_share(bands: np.ndarray, band_names, levels, *, valid=None, decode=None) -> tuple[float, float]:
    """Shares of (subsampled) pixels of ``bands`` (C, H, W; roles ``band_names``) unlike both clusters -- far beyond
    their levels along the image's discriminant (t < -2 or t > 3) or far off the line between them
    (:func:`.radiometry.off_line_distance`) -- and with a band at full scale (:data:`CLIP_LEVEL`; meaningful for
    camera counts). ``decode`` (elementwise, e.g. camera counts to light) is applied to the subsample only: the
    unmixing path decoded a whole 20 MP frame for the ~100,000 pixels read here (issue 13, stop 31)."""
    from .radiometry import discriminant, off_line_distance

    names = list(band_names)
    step = max(1, int(np.sqrt(bands.shape[1] * bands.shape[2] / 100_000)))
    x = np.stack([bands[names.index(b)][::step, ::step] for b in levels.bands])
    if decode is not None:
        x = decode(x)
    t = discriminant(x, levels)
    ok = np.ones(t.shape, bool) if valid is None else valid[::step, ::step]
    far = ((t < -2.0) | (t > 3.0) | (off_line_distance(x, levels) > OFF_LINE_SIGMA)) & ok
    clipped = np.any(x >= CLIP_LEVEL, axis=0) & ok
    n = max(int(ok.sum()), 1)
    return float(far.sum() / n), float(clipped.sum() / n)


__all__ = ["SegmentSink", "assess"]
