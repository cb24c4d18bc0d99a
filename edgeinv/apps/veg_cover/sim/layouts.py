"""Spatial layouts of a field on a fine grid: crop rows, scattered plants, irregular canopies, weeds, gaps.

Everything is rendered in metres on a fine grid (a fraction of the sensor's ground sampling
distance) so that, once box-averaged to the sensor grid, mixed pixels come out of the geometry and
not out of a formula. A layout gives, per fine cell: the area fraction occupied by canopy elements
(``crown``), their local leaf area index (LAI, which PROSAIL turns into reflectance and nadir cover),
chlorophyll, plant height (for cast shadows), and the soil state (brightness, dryness, crop residue).

Plant crowns are ellipsoids: the path length through a crown, hence its local LAI, falls off as
``sqrt(1 - (d/R)^2)`` towards the edge (the geometric-optical crown of Li & Strahler 1992, IEEE
TGRS 30:276). Random fields are Gaussian-smoothed white noise with a correlation length in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAYOUT_KINDS = ("rows", "hedgerows", "scattered", "irregular", "bare")


@dataclass
class Field:
    """Fine-grid description of a patch of field (all arrays (H, W), float32)."""

    crown: np.ndarray      # canopy element area fraction in the cell, 0..1
    lai: np.ndarray        # local LAI of the canopy element
    cab: np.ndarray        # chlorophyll a+b, ug/cm2
    height_m: np.ndarray   # canopy height, m
    rsoil: np.ndarray      # soil brightness scale
    psoil: np.ndarray      # soil dryness 0 (wet) .. 1 (dry)
    residue: np.ndarray    # fraction of the soil covered by dry residue, 0..1


def grid_coordinates(*, shape: tuple[int, int], res_m: float, origin_m=(0.0, 0.0)):
    """Cell-centre coordinates ``(x_m, y_m)`` of a fine grid (x to the right, y down the rows)."""
    h, w = shape
    x = origin_m[0] + (np.arange(w, dtype=np.float64) + 0.5) * res_m
    y = origin_m[1] + (np.arange(h, dtype=np.float64) + 0.5) * res_m
    return np.meshgrid(x, y)


def random_field(*, x_m: np.ndarray, y_m: np.ndarray, corr_m: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with correlation length ``corr_m`` at (x_m, y_m).

    White noise on a lattice of step ``corr_m / 2`` (never finer than needed) is smoothed with a
    Gaussian of sigma ``corr_m`` and interpolated bilinearly (OpenCV ``remap``); the variance is
    normalised with the kernel's own weights, so the field has unit variance whatever the patch size.
    """
    import cv2  # training side only: the module is imported by the CLI's simulate flags in a serving process
    from scipy.ndimage import gaussian_filter

    corr_m = float(corr_m)
    span = max(float(np.ptp(x_m)), float(np.ptp(y_m)), 1e-9)
    step = max(corr_m / 2.0, span / 512.0)
    sigma = corr_m / step
    pad = int(np.ceil(4 * sigma)) + 2
    x0, y0 = float(x_m.min()) - pad * step, float(y_m.min()) - pad * step
    nx = int(np.ceil(np.ptp(x_m) / step)) + 2 * pad + 2
    ny = int(np.ceil(np.ptp(y_m) / step)) + 2 * pad + 2
    lattice = gaussian_filter(rng.standard_normal((ny, nx)), sigma, mode="wrap")
    radius = int(4 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    lattice = (lattice / float(np.sum(k * k))).astype(np.float32)  # std of filtered unit noise = sum(k1^2)
    mx = ((x_m - x0) / step).astype(np.float32)
    my = ((y_m - y0) / step).astype(np.float32)
    return cv2.remap(lattice, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _rotate(x_m, y_m, theta_rad):
    c, s = np.cos(theta_rad), np.sin(theta_rad)
    return x_m * c + y_m * s, -x_m * s + y_m * c  # u along the rows, v across


def jittered_plants(*, u_m: np.ndarray, v_m: np.ndarray, cell_u_m: float, cell_v_m: float,
                    radius_m: float, presence: float, jitter: float, lai: float,
                    rng: np.random.Generator, radius_sd: float = 0.25, res_m: float = 0.01,
                    stagger: bool = True, jitter_v: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Plants on a jittered lattice (rows when ``cell_v`` is the row spacing), rendered as ellipsoids.

    Returns ``(crown, lai_local)``: the anti-aliased crown area fraction per cell and the local LAI
    ``lai_plant * sqrt(1 - (d/R)^2)`` of the tallest crown over the cell. Plant radius is lognormal
    around ``radius_m`` (sd ``radius_sd`` in log units); ``presence`` is the share of lattice
    positions holding a plant (1 - presence = missing plants). ``jitter`` (along ``u``) and
    ``jitter_v`` (across, default the same) are position scatter as a fraction of the cell.
    """
    jitter_v = jitter if jitter_v is None else jitter_v
    ku = np.floor(u_m / cell_u_m).astype(np.int64)
    kv = np.floor(v_m / cell_v_m).astype(np.int64)
    # lattice cells a crown (<= 1.6 x radius, jittered, rows staggered by < half a cell) can reach
    reach_u = int(np.floor((1.6 * radius_m + res_m) / cell_u_m + 0.5 + jitter / 2)) + 1
    reach_v = int(np.floor((1.6 * radius_m + res_m) / cell_v_m + 0.5 + jitter_v / 2)) + 1
    ku0, kv0 = int(ku.min()) - reach_u - 1, int(kv.min()) - reach_v - 1
    nu, nv = int(ku.max()) - ku0 + reach_u + 2, int(kv.max()) - kv0 + reach_v + 2
    r_plant = radius_m * np.clip(np.exp(radius_sd * rng.standard_normal((nv, nu))), 0.4, 1.6)
    present = rng.random((nv, nu)) < presence
    lai_plant = lai * np.exp(0.2 * rng.standard_normal((nv, nu)))
    row_shift = (rng.random(nv) - 0.5) * cell_u_m if stagger else np.zeros(nv)
    cu_tab = (np.arange(nu) + ku0 + 0.5)[None, :] * cell_u_m + jitter * cell_u_m * (rng.random((nv, nu)) - 0.5)
    cu_tab = cu_tab + row_shift[:, None]
    cv_tab = (np.arange(nv) + kv0 + 0.5)[:, None] * cell_v_m + jitter_v * cell_v_m * (rng.random((nv, nu)) - 0.5)
    r_tab = np.where(present, r_plant, 0.0)  # an absent plant is a plant of radius 0
    flat = (kv - kv0) * nu + (ku - ku0)
    tab = np.stack([t.ravel() for t in (cu_tab, cv_tab, r_tab, lai_plant)], axis=1).astype(np.float32)
    u32, v32 = u_m.astype(np.float32), v_m.astype(np.float32)
    crown = np.zeros(u_m.shape, dtype=np.float32)
    lai_local = np.zeros(u_m.shape, dtype=np.float32)
    inv_res = np.float32(1.0 / res_m)
    for dv in range(-reach_v, reach_v + 1):
        for du in range(-reach_u, reach_u + 1):
            idx = flat + (dv * nu + du)
            rows = tab[idx]
            cu, cv, r, lp = rows[..., 0], rows[..., 1], rows[..., 2], rows[..., 3]
            d2 = (u32 - cu) ** 2 + (v32 - cv) ** 2
            hit = (d2 < (r + np.float32(res_m)) ** 2) & (r > 0)
            if not hit.any():
                continue
            d = np.sqrt(d2[hit])
            rh = r[hit]
            area = np.clip((rh - d) * inv_res + 0.5, 0.0, 1.0)
            depth = np.sqrt(np.clip(1.0 - (d / np.maximum(rh, 1e-6)) ** 2, 0.0, 1.0)) * lp[hit]
            crown[hit] = np.maximum(crown[hit], area)
            lai_local[hit] = np.maximum(lai_local[hit], depth)
    return crown, lai_local


def _hedge(*, u_m, v_m, spacing_m, half_width_m, lai, gap_share, rng, res_m):
    """Continuous rows (closed canopy along the row) with a wavy edge and missing stretches."""
    kv = np.round(v_m / spacing_m)
    dv = np.abs(v_m - kv * spacing_m)
    corr = max(half_width_m, 0.03)
    wobble = 1.0 + 0.25 * random_field(x_m=u_m, y_m=kv * 4 * corr, corr_m=corr, rng=rng)
    w = half_width_m * np.clip(wobble, 0.3, 1.7)
    area = np.clip((w - dv) / res_m + 0.5, 0.0, 1.0)
    depth = lai * np.sqrt(np.clip(1.0 - (dv / w) ** 2, 0.0, 1.0))
    if gap_share > 0:
        gaps = random_field(x_m=u_m, y_m=kv * 12 * spacing_m, corr_m=3 * spacing_m, rng=rng)
        keep = gaps > np.quantile(gaps, gap_share)
        area, depth = area * keep, depth * keep
    return area.astype(np.float32), depth.astype(np.float32)


def draw_field(*, x_m: np.ndarray, y_m: np.ndarray, res_m: float, rng: np.random.Generator,
               kind: str | None = None) -> tuple[Field, dict]:
    """Draw one random field layout on the fine grid ``(x_m, y_m)``; returns the Field and its parameters.

    Kinds: ``rows`` (plants along rows), ``hedgerows`` (closed rows), ``scattered`` (plants
    without rows), ``irregular`` (thresholded random canopy: pasture, cover crop), ``bare``. On top:
    weed patches, emergence gaps, a growth gradient across the field, residue on the soil.
    """
    kind = kind or str(rng.choice(LAYOUT_KINDS, p=[0.38, 0.17, 0.15, 0.22, 0.08]))
    if kind not in LAYOUT_KINDS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUT_KINDS)}; got {kind!r}")
    theta = rng.uniform(0, np.pi)
    u, v = _rotate(x_m, y_m, theta)
    span = max(float(np.ptp(x_m)), float(np.ptp(y_m)), res_m)
    params: dict = {"layout": kind, "row_angle_deg": float(np.rad2deg(theta))}
    # growth gradient across the field: scales plant size and LAI
    direction = rng.uniform(0, 2 * np.pi)
    along = (x_m * np.cos(direction) + y_m * np.sin(direction)) / max(span, 1e-6)
    slope = rng.uniform(-0.7, 0.7) if rng.random() < 0.5 else 0.0
    growth = np.clip(1.0 + slope * (along - along.mean()), 0.2, 2.0).astype(np.float32)
    params["growth_gradient"] = float(slope)
    lai_max = float(rng.uniform(1.0, 6.5))
    cab = float(rng.uniform(20, 70))
    aspect = float(rng.uniform(0.4, 1.5))  # plant height / crown diameter
    height = 0.0
    crown = np.zeros(x_m.shape, np.float32)
    lai = np.zeros(x_m.shape, np.float32)
    if kind in ("rows", "hedgerows"):
        spacing = float(rng.uniform(0.2, 0.9))
        stage = float(rng.uniform(0.05, 1.0))  # crown diameter relative to the row spacing
        params.update(row_spacing_m=spacing, growth_stage=stage)
        if kind == "rows":
            plant_sp = float(rng.uniform(0.04, 0.4))
            radius = max(stage * spacing / 2, 0.004)
            plant_sp = max(plant_sp, radius)
            crown, lai = jittered_plants(u_m=u, v_m=v, cell_u_m=plant_sp, cell_v_m=spacing, radius_m=radius,
                                         presence=rng.uniform(0.7, 1.0), jitter=rng.uniform(0, 0.5), lai=lai_max,
                                         rng=rng, res_m=res_m, jitter_v=rng.uniform(0.0, 0.08))
            params["plant_spacing_m"] = plant_sp
            height = aspect * 2 * radius
        else:
            crown, lai = _hedge(u_m=u, v_m=v, spacing_m=spacing, half_width_m=max(stage * spacing / 2, 0.01),
                                lai=lai_max, gap_share=rng.uniform(0, 0.25) if rng.random() < 0.5 else 0.0,
                                rng=rng, res_m=res_m)
            height = aspect * stage * spacing
    elif kind == "scattered":
        cell = float(rng.uniform(0.08, 0.8))
        crown, lai = jittered_plants(u_m=u, v_m=v, cell_u_m=cell, cell_v_m=cell,
                                     radius_m=cell * rng.uniform(0.1, 0.6), presence=rng.uniform(0.3, 1.0),
                                     jitter=0.9, lai=lai_max, rng=rng, res_m=res_m, radius_sd=0.4)
        params["plant_cell_m"] = cell
        height = aspect * cell * 0.5
    elif kind == "irregular":
        corr = float(np.exp(rng.uniform(np.log(0.05), np.log(2.5))))
        target = float(rng.uniform(0.05, 0.98))
        f = random_field(x_m=x_m, y_m=y_m, corr_m=corr, rng=rng)
        f = f + 0.35 * random_field(x_m=x_m, y_m=y_m, corr_m=max(corr / 6, res_m), rng=rng)
        thr = np.quantile(f, 1 - target)
        edge = np.clip((f - thr) / 0.15, 0.0, 1.0)
        crown = np.clip((f - thr) / 0.02 + 0.5, 0.0, 1.0).astype(np.float32)
        lai = (lai_max * np.sqrt(edge)).astype(np.float32)
        params.update(canopy_corr_m=corr, canopy_target=target)
        height = aspect * min(corr, 0.5)
    lai = lai * growth
    cab_map = np.full(x_m.shape, cab, np.float32) * np.clip(1 + 0.1 * random_field(
        x_m=x_m, y_m=y_m, corr_m=rng.uniform(0.2, 3.0), rng=rng), 0.5, 1.5)
    height_map = np.full(x_m.shape, height, np.float32) * growth
    if kind != "bare" and rng.random() < 0.35:  # emergence gaps: bare stretches inside the crop
        g = random_field(x_m=x_m, y_m=y_m, corr_m=rng.uniform(0.3, 3.0), rng=rng)
        keep = (g < rng.uniform(0.8, 2.0)).astype(np.float32)
        crown, lai = crown * keep, lai * keep
        params["emergence_gaps"] = True
    if rng.random() < 0.4:  # weed patches: small plants of another species between the rows
        patch = random_field(x_m=x_m, y_m=y_m, corr_m=rng.uniform(0.3, 3.0), rng=rng) > rng.uniform(0.3, 1.5)
        cell = float(rng.uniform(0.03, 0.25))
        wc, wl = jittered_plants(u_m=x_m, v_m=y_m, cell_u_m=cell, cell_v_m=cell, radius_m=cell * rng.uniform(0.2, 0.6),
                                 presence=rng.uniform(0.3, 0.9), jitter=0.9, lai=rng.uniform(0.8, 4.0), rng=rng,
                                 res_m=res_m, radius_sd=0.4, stagger=False)
        wc, wl = wc * patch, wl * patch
        weed = wc > crown
        cab_map = np.where(weed, np.float32(rng.uniform(15, 65)), cab_map)
        height_map = np.where(weed, np.float32(aspect * cell * 0.5), height_map)
        crown, lai = np.maximum(crown, wc), np.where(weed, wl, lai)
        params["weeds"] = True
    if crown.any():  # leaf-scale texture: denser and thinner spots inside crowns, ragged edges
        tex = random_field(x_m=x_m, y_m=y_m, corr_m=max(rng.uniform(0.004, 0.02), res_m), rng=rng)
        lai = lai * np.clip(1.0 + 0.35 * tex, 0.2, 1.8)
        crown = crown * (lai > 0.15 * lai_max * np.clip(1.0 - 0.5 * tex, 0.0, 2.0))
    crown = np.where(lai > 0.02, crown, 0.0).astype(np.float32)
    lai = np.clip(lai, 0.0, 7.0).astype(np.float32)
    # soil: brightness and dryness vary smoothly, clods at the cm scale; residue in some fields
    rs_mean, ps_mean = float(rng.uniform(0.45, 1.35)), float(rng.uniform(0.0, 1.0))
    rsoil = rs_mean * (1 + 0.08 * random_field(x_m=x_m, y_m=y_m, corr_m=rng.uniform(0.3, 4.0), rng=rng)
                       + 0.05 * random_field(x_m=x_m, y_m=y_m, corr_m=max(rng.uniform(0.005, 0.03), res_m), rng=rng))
    psoil = np.clip(ps_mean + 0.15 * random_field(x_m=x_m, y_m=y_m, corr_m=rng.uniform(0.3, 4.0), rng=rng), 0, 1)
    residue = np.zeros(x_m.shape, np.float32)
    if rng.random() < 0.3:
        straw = random_field(x_m=x_m, y_m=y_m, corr_m=max(rng.uniform(0.005, 0.03), res_m), rng=rng)
        residue = np.clip((straw - np.quantile(straw, 1 - rng.uniform(0.05, 0.5))) / 0.3, 0, 1).astype(np.float32)
        params["residue"] = True
    params.update(lai_max=lai_max, cab_ug_cm2=cab, height_m=height, rsoil=rs_mean, psoil=ps_mean)
    return Field(crown=crown, lai=lai, cab=cab_map.astype(np.float32), height_m=height_map.astype(np.float32),
                 rsoil=np.clip(rsoil, 0.2, 1.6).astype(np.float32), psoil=psoil.astype(np.float32),
                 residue=residue), params
