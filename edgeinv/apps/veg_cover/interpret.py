"""Cover maps -> zone statistics, flags and the user-facing result (what to fly again, and why).

The field is split into square zones (``zone_m`` metres when the image is georeferenced, else
``zone_px`` pixels). Statistics are accumulated tile by tile (so an orthomosaic never has to be in
memory) on sub-cells of a quarter zone (at least 1 m on the ground); per zone we report the mean cover, the pixel spread, the
*patchiness* (spread of the sub-cell means: gaps and weed patches, not the row pattern) and the
mean predicted standard deviation (model confidence). A zone is flagged for re-survey when its cover
is low, its patchiness high or the model unsure (:class:`ZoneRules`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from edgeinv.common.errors import ConfigError

SEGMENT_LOW_CONFIDENCE_STD = 0.05  # segmentation path: zone mean sd above this = over 10 % ambiguous or boundary pixels
SUBCELLS = 4  # sub-cells per zone side (fewer when that would make them smaller than MIN_SUBCELL_M)
MIN_SUBCELL_M = 1.0


@dataclass(frozen=True)
class ZoneRules:
    """Thresholds that flag a zone (cover fractions 0..1)."""

    low_cover: float = 0.3
    high_patchiness: float = 0.15
    low_confidence_std: float = 0.12
    min_valid: float = 0.25  # zones with less valid imagery than this share of a full zone are not judged

    def __post_init__(self):
        for name in ("low_cover", "high_patchiness", "low_confidence_std", "min_valid"):
            v = getattr(self, name)
            if not 0.0 <= float(v) <= 1.0:
                raise ConfigError(f"{name} must be in 0..1 (a cover fraction), got {v!r}")


class ZoneGrid:
    """Streaming per-zone statistics over a raster of ``height`` x ``width`` pixels."""

    def __init__(self, *, height: int, width: int, zone_px: int, min_sub_px: int = 1):
        if zone_px < 1:
            raise ConfigError(f"zone size must be >= 1 pixel, got {zone_px}")
        self.height, self.width, self.zone_px = int(height), int(width), int(zone_px)
        # sub-cells: a quarter zone, but not smaller than min_sub_px (patchiness is judged above the
        # scale of single plants and rows, else a healthy row crop would look "patchy")
        self.sub_px = min(self.zone_px, max(1, self.zone_px // SUBCELLS, int(min_sub_px)))
        self.k = max(1, self.zone_px // self.sub_px)
        self.zone_px = self.sub_px * self.k
        self.n_sub_r = -(-self.height // self.sub_px)
        self.n_sub_c = -(-self.width // self.sub_px)
        n = self.n_sub_r * self.n_sub_c
        self.count = np.zeros(n)
        self.total = np.zeros(n)
        self.total_sq = np.zeros(n)
        self.std_total = np.zeros(n)
        self.std_count = np.zeros(n)

    def add(self, *, row: int, col: int, cover: np.ndarray, valid: np.ndarray, std: np.ndarray | None = None) -> None:
        """Add a window of the cover map whose top-left pixel is (row, col).

        Sums per sub-cell by two ``np.add.reduceat`` passes over the window, not a ``bincount`` over a
        per-pixel index: 3-4x less time on the large-orthomosaic path. The first pass runs along the rows'
        contiguous pixels (each row's run of a sub-cell) and the second over the few run sums down the
        columns: numpy's ``reduceat`` down axis 0 of a whole window was 2x slower per pixel (0.106 against
        0.051 ms on a 256 px window, issue 13). The sums are float64, accumulated from the float32 window
        without a float64 copy of it (``dtype=``; the squares computed in float64), into a slice of sub-cells.
        """
        h, w = cover.shape
        sp = self.sub_px
        r0, c0 = row // sp, col // sp
        rs = np.r_[0, np.arange((r0 + 1) * sp - row, h, sp)]  # where each sub-cell starts in the window
        cs = np.r_[0, np.arange((c0 + 1) * sp - col, w, sp)]
        cells = (slice(r0, r0 + rs.size), slice(c0, c0 + cs.size))
        shape = (self.n_sub_r, self.n_sub_c)

        def block_sums(a, dtype=None):
            return np.add.reduceat(np.add.reduceat(a, cs, axis=1, dtype=dtype), rs, axis=0)

        v = np.asarray(valid, bool)
        full = bool(v.all())  # the common case: counts from the cell sizes, no masking passes (same sums)
        n = np.outer(np.diff(np.r_[rs, h]), np.diff(np.r_[cs, w])).astype(np.float64) if full \
            else block_sums(v, np.float64)
        zero = np.zeros((), cover.dtype)
        c = cover if full else np.where(v, cover, zero)
        self.count.reshape(shape)[cells] += n
        self.total.reshape(shape)[cells] += block_sums(c, np.float64)
        self.total_sq.reshape(shape)[cells] += block_sums(np.multiply(c, c, dtype=np.float64))
        if std is not None:
            self.std_total.reshape(shape)[cells] += block_sums(std if full else np.where(v, std, zero), np.float64)
            self.std_count.reshape(shape)[cells] += n

    def zones(self, *, rules: ZoneRules, transform=None) -> list[dict]:
        """Per-zone statistics and flags, row-major; ``bounds`` in map units when ``transform`` is given."""
        k = self.k
        shape = (self.n_sub_r, self.n_sub_c)
        grids = {name: getattr(self, name).reshape(shape) for name in
                 ("count", "total", "total_sq", "std_total", "std_count")}
        out = []
        n_zr, n_zc = -(-self.n_sub_r // k), -(-self.n_sub_c // k)
        for zr in range(n_zr):
            for zc in range(n_zc):
                sl = (slice(zr * k, (zr + 1) * k), slice(zc * k, (zc + 1) * k))
                g = {name: a[sl] for name, a in grids.items()}
                cnt = float(g["count"].sum())
                r0, c0 = zr * self.zone_px, zc * self.zone_px
                r1, c1 = min(r0 + self.zone_px, self.height), min(c0 + self.zone_px, self.width)
                zone = {"id": len(out), "row": zr, "col": zc, "pixel_bounds": [r0, c0, r1, c1],
                        "pixels": int(cnt), "valid_fraction": cnt / float(self.zone_px * self.zone_px)}
                if transform is not None:
                    x0, y0 = transform @ (c0, r0)
                    x1, y1 = transform @ (c1, r1)
                    zone["bounds"] = [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]
                if cnt > 0:
                    mean = float(g["total"].sum() / cnt)
                    var = max(float(g["total_sq"].sum() / cnt) - mean * mean, 0.0)
                    sub = g["count"] > 0
                    sub_means = g["total"][sub] / g["count"][sub]
                    zone.update(fvc_mean=mean, fvc_pixel_std=var ** 0.5,
                                fvc_patchiness=float(sub_means.std()) if sub_means.size > 1 else 0.0)
                    sc = float(g["std_count"].sum())
                    zone["confidence_std"] = float(g["std_total"].sum() / sc) if sc else None
                zone["flags"] = flags_for(zone, rules)
                out.append(zone)
        return out


def flags_for(zone: dict, rules: ZoneRules) -> list[str]:
    """Why a zone needs a second look: ``low_cover``, ``high_variance``, ``low_confidence``."""
    if zone.get("fvc_mean") is None or zone["valid_fraction"] < rules.min_valid:
        return []
    flags = []
    if zone["fvc_mean"] < rules.low_cover:
        flags.append("low_cover")
    if zone["fvc_patchiness"] > rules.high_patchiness:
        flags.append("high_variance")
    if zone.get("confidence_std") is not None and zone["confidence_std"] > rules.low_confidence_std:
        flags.append("low_confidence")
    return flags


@dataclass
class VegCoverResult:
    """The cover map of one image, summarised for the operator (arrays stay out of ``to_dict``)."""

    source: str
    method: str
    config: str | None
    width: int
    height: int
    pixels: int
    fvc_mean: float | None
    fvc_std: float | None
    confidence_std: float | None
    georeferenced: bool
    crs: str | None
    gsd_m: float | None
    zone_px: int
    zone_m: float | None
    zones: list[dict]
    rules: ZoneRules = field(default_factory=ZoneRules)
    outputs: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # path, radiometry, levels, cover interval, OOD flag and reasons
    cover: np.ndarray | None = field(default=None, repr=False)
    std: np.ndarray | None = field(default=None, repr=False)
    probability: np.ndarray | None = field(default=None, repr=False)  # segmentation path: P(vegetation)
    transform: object = field(default=None, repr=False)
    crs_obj: object = field(default=None, repr=False)

    @property
    def flagged(self) -> list[dict]:
        return [z for z in self.zones if z["flags"]]

    @property
    def judged(self) -> list[dict]:
        """Zones with enough imagery to judge (a 2-px sliver at the image edge is not a zone to count)."""
        return [z for z in self.zones if z["valid_fraction"] >= self.rules.min_valid]

    def to_dict(self) -> dict:
        return {"source": self.source, "method": self.method, "config": self.config,
                "width": self.width, "height": self.height, "pixels": self.pixels,
                "fvc_mean": self.fvc_mean, "fvc_std": self.fvc_std, "confidence_std": self.confidence_std,
                "georeferenced": self.georeferenced, "crs": self.crs, "gsd_m": self.gsd_m,
                "zone_px": self.zone_px, "zone_m": self.zone_m, "rules": asdict(self.rules),
                "n_zones": len(self.judged), "n_zones_not_judged": len(self.zones) - len(self.judged),
                "n_flagged": len(self.flagged),
                "flagged_ids": [z["id"] for z in self.flagged], "zones": self.zones, "outputs": self.outputs,
                **self.extra}

    def summary(self) -> str:
        fvc = "n/a" if self.fvc_mean is None else f"{self.fvc_mean:.3f}"
        lines = [f"{self.source}: {self.width} x {self.height} px, {self.pixels} valid, "
                 f"{self.config or 'unknown'} camera, method {self.method}",
                 f"mean vegetation cover {fvc}" + ("" if self.fvc_std is None else f" (pixel sd {self.fvc_std:.3f})")
                 + ("" if self.confidence_std is None else f", mean predicted sd {self.confidence_std:.3f}")]
        e = self.extra
        if e.get("fvc_interval"):
            lo, hi = e["fvc_interval"]
            lines.append(f"cover interval {lo:.3f}-{hi:.3f} (+-{e['fvc_uncertainty']:.3f}); path {e.get('path')}, "
                         f"radiometry {e.get('radiometry')}")
        if e.get("ood"):
            lines.append("OUT OF DISTRIBUTION / LOW CONFIDENCE: " + "; ".join(e.get("ood_reasons", [])))
        if e.get("band_mapping"):
            lines.append(f"bands: {e['band_mapping']}")
        size = f"{self.zone_m:g} m" if self.zone_m else f"{self.zone_px} px"
        edge = len(self.zones) - len(self.judged)
        lines.append(f"{len(self.judged)} zones of {size}; {len(self.flagged)} flagged for re-survey"
                     + (f" ({edge} edge or no-data slivers not judged)" if edge else ""))
        for z in self.flagged[:10]:
            lines.append(f"  zone {z['id']} (row {z['row']}, col {z['col']}): cover {z['fvc_mean']:.2f}, "
                         f"{', '.join(z['flags'])}")
        if len(self.flagged) > 10:
            lines.append(f"  ... and {len(self.flagged) - 10} more")
        for name, path in self.outputs.items():
            lines.append(f"{name}: {path}")
        return "\n".join(lines)


def zone_px_for(*, georeferenced: bool, gsd_m: float | None, zone_m: float | None, zone_px: int | None,
                height: int, width: int) -> tuple[int, float | None]:
    """Zone side in pixels (and metres when known): metres for georeferenced images, pixels otherwise.

    Defaults: 10 m zones (georeferenced) or 64 px, but never more than a quarter of the image's
    short side, so a single frame still shows where it is sparse.
    """
    short = max(1, min(int(height), int(width)))
    if zone_px is not None:
        if int(zone_px) < 1:
            raise ConfigError(f"zone size must be >= 1 px, got {zone_px}")
        return int(zone_px), None
    if georeferenced and gsd_m:
        if zone_m is not None:
            if not float(zone_m) > 0:
                raise ConfigError(f"zone size must be > 0 m, got {zone_m}")
            return max(1, int(round(float(zone_m) / gsd_m))), float(zone_m)
        px = max(1, min(int(round(10.0 / gsd_m)), short // 4))
        return px, None
    return max(4, min(64, short // 4)), None


def summarise(*, grid: ZoneGrid, rules: ZoneRules, source: str, method: str, config: str | None,
              georeferenced: bool, crs, transform, gsd_m) -> VegCoverResult:
    """Build the result from a filled ZoneGrid (image-wide numbers are sums over the sub-cells)."""
    cnt = float(grid.count.sum())
    mean = float(grid.total.sum() / cnt) if cnt else None
    std = (max(float(grid.total_sq.sum() / cnt) - mean ** 2, 0.0) ** 0.5) if cnt else None
    sc = float(grid.std_count.sum())
    zones = grid.zones(rules=rules, transform=transform if georeferenced else None)
    return VegCoverResult(source=source, method=method, config=config, width=grid.width, height=grid.height,
                          pixels=int(cnt), fvc_mean=mean, fvc_std=std,
                          confidence_std=float(grid.std_total.sum() / sc) if sc else None,
                          georeferenced=georeferenced, crs=crs.to_string() if (georeferenced and crs) else None,
                          gsd_m=gsd_m, zone_px=grid.zone_px,
                          zone_m=grid.zone_px * gsd_m if (georeferenced and gsd_m) else None, zones=zones, rules=rules,
                          transform=transform, crs_obj=crs if georeferenced else None)
