"""Layouts: random fields, plants on a jittered lattice (checked against brute force), every layout kind."""

import numpy as np
import pytest

from edgeinv.apps.veg_cover.sim.layouts import LAYOUT_KINDS, draw_field, grid_coordinates, jittered_plants, random_field


def test_random_field_is_standardised():
    x, y = grid_coordinates(shape=(400, 400), res_m=0.01)
    f = random_field(x_m=x, y_m=y, corr_m=0.05, rng=np.random.default_rng(1))
    assert abs(float(f.mean())) < 0.1 and 0.85 < float(f.std()) < 1.15


def test_longer_correlation_is_smoother():
    x, y = grid_coordinates(shape=(200, 200), res_m=0.01)
    def lag1(corr):
        f = random_field(x_m=x, y_m=y, corr_m=corr, rng=np.random.default_rng(2))
        return np.corrcoef(f[:, :-5].ravel(), f[:, 5:].ravel())[0, 1]
    assert lag1(0.02) < lag1(0.2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jittered_plants_match_brute_force(seed):
    """The neighbour search must find every crown: compare with rendering every plant on the lattice."""
    res = 0.004
    x, y = grid_coordinates(shape=(90, 110), res_m=res, origin_m=(0.37, -0.21))
    kw = dict(cell_u_m=0.05, cell_v_m=0.11, radius_m=0.045, presence=0.8, jitter=0.6, lai=3.0, res_m=res)
    crown, lai = jittered_plants(u_m=x, v_m=y, rng=np.random.default_rng(seed), **kw)
    # brute force with the same random draws: replay the generator exactly as the function does
    rng = np.random.default_rng(seed)
    ku, kv = np.floor(x / kw["cell_u_m"]).astype(int), np.floor(y / kw["cell_v_m"]).astype(int)
    reach_u = int(np.floor((1.6 * kw["radius_m"] + res) / kw["cell_u_m"] + 0.5 + kw["jitter"] / 2)) + 1
    reach_v = int(np.floor((1.6 * kw["radius_m"] + res) / kw["cell_v_m"] + 0.5 + kw["jitter"] / 2)) + 1
    ku0, kv0 = ku.min() - reach_u - 1, kv.min() - reach_v - 1
    nu, nv = ku.max() - ku0 + reach_u + 2, kv.max() - kv0 + reach_v + 2
    r = kw["radius_m"] * np.clip(np.exp(0.25 * rng.standard_normal((nv, nu))), 0.4, 1.6)
    present = rng.random((nv, nu)) < kw["presence"]
    lp = kw["lai"] * np.exp(0.2 * rng.standard_normal((nv, nu)))
    shift = (rng.random(nv) - 0.5) * kw["cell_u_m"]
    cu = (np.arange(nu) + ku0 + 0.5)[None] * kw["cell_u_m"] + kw["jitter"] * kw["cell_u_m"] * (rng.random((nv, nu)) - 0.5) + shift[:, None]
    cv = (np.arange(nv) + kv0 + 0.5)[:, None] * kw["cell_v_m"] + kw["jitter"] * kw["cell_v_m"] * (rng.random((nv, nu)) - 0.5)
    ref_c, ref_l = np.zeros(x.shape), np.zeros(x.shape)
    for a, b, rr, ok, ll in zip(cu.ravel(), cv.ravel(), r.ravel(), present.ravel(), lp.ravel()):
        if not ok:
            continue
        d = np.hypot(x - a, y - b)
        ref_c = np.maximum(ref_c, np.clip((rr - d) / res + 0.5, 0, 1))
        ref_l = np.maximum(ref_l, np.sqrt(np.clip(1 - (d / rr) ** 2, 0, 1)) * ll)
    np.testing.assert_allclose(crown, ref_c, atol=1e-4)
    np.testing.assert_allclose(lai, ref_l, atol=1e-3)
    assert 0.1 < crown.mean() < 0.9


@pytest.mark.parametrize("kind", LAYOUT_KINDS)
def test_every_layout_gives_a_valid_field(kind):
    x, y = grid_coordinates(shape=(120, 120), res_m=0.01)
    fld, params = draw_field(x_m=x, y_m=y, res_m=0.01, rng=np.random.default_rng(3), kind=kind)
    assert params["layout"] == kind
    for name in ("crown", "lai", "cab", "height_m", "rsoil", "psoil", "residue"):
        a = getattr(fld, name)
        assert a.shape == x.shape and a.dtype == np.float32 and np.all(np.isfinite(a))
    assert fld.crown.min() >= 0 and fld.crown.max() <= 1 and fld.lai.min() >= 0 and fld.lai.max() <= 7
    assert np.all(fld.psoil >= 0) and np.all(fld.psoil <= 1)
    if kind == "bare":
        assert fld.crown.max() == 0
    assert np.all(fld.lai[fld.crown > 0] > 0.02)


def test_unknown_layout_is_refused():
    x, y = grid_coordinates(shape=(8, 8), res_m=0.01)
    with pytest.raises(ValueError, match="layout must be one of"):
        draw_field(x_m=x, y_m=y, res_m=0.01, rng=np.random.default_rng(0), kind="orchard")
