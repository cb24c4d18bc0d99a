"""Cover at coarser ground resolution from real frames (real_gsd), and calibration only within the masks' camera."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from edgeinv.apps.veg_cover.io import VegImage
from edgeinv.apps.veg_cover.real_gsd import block_mean, coarse_frame, linear_to_srgb, srgb_to_linear


def _decode(png: bytes) -> np.ndarray:
    return np.moveaxis(np.asarray(Image.open(io.BytesIO(png))), 2, 0).astype(np.float64) / 255


def test_coarse_frame_is_the_area_mean_of_linear_counts():
    rng = np.random.default_rng(0)
    v = rng.random((3, 40, 60))
    assert np.allclose(linear_to_srgb(srgb_to_linear(v)), v)
    k = 4
    png = _decode(coarse_frame(v, ("red", "green", "blue"), k))
    assert png.shape == (3, 10, 15)
    want = linear_to_srgb(block_mean(srgb_to_linear(v), k))  # sRGB: averaged as light, not as encoded values
    assert np.abs(png - want).max() <= 0.5 / 255 + 1e-9
    assert np.abs(png - block_mean(v, k)).max() > 5 / 255  # averaging the encoded values would differ
    # a two-band frame: linear counts, stored as R = red, G = NIR, B = red (read back with the same mapping)
    two = _decode(coarse_frame(v[:2, :41, :61], ("red", "nir"), k))
    assert two.shape == (3, 10, 15) and np.array_equal(two[0], two[2])
    assert np.abs(two[:2] - block_mean(v[:2], k)).max() <= 0.5 / 255 + 1e-9


def _sample(names):
    return VegImage(bands=np.zeros((len(names), 4, 4), np.float32), band_names=tuple(names))


def test_calibration_scope_keeps_only_the_models_own_camera(vc_app):
    rgb, rn, ms = _sample(("red", "green", "blue")), _sample(("red", "nir")), \
        _sample(("blue", "green", "red", "rededge", "nir"))
    pairs = [(rgb, {"m": 1}), (rn, {"m": 2}), (ms, {"m": 3})]
    kept, scope = vc_app.calibration_scope(pairs, "rgb_fine")
    assert [lab["m"] for _, lab in kept] == [1, 3] and scope["left_out"] == 1 and "red+nir" in scope["reason"]
    kept, scope = vc_app.calibration_scope(pairs, "red_nir_fine")
    assert [lab["m"] for _, lab in kept] == [2, 3] and scope["left_out_bands"] == ["red+green+blue"]
    kept, scope = vc_app.calibration_scope([(rn, {})], "rgb_fine")
    assert kept == [] and "unchanged" in scope["reason"]
    kept, scope = vc_app.calibration_scope([(rgb, {})], "rgb_fine")
    assert len(kept) == 1 and scope is None


def test_unmix_on_camera_counts_without_two_clusters_runs_the_net_cross_checked(vc_app):
    """Uncalibrated counts on the unmixing path normally unmix between the image's pure levels (test_unmix_counts.py).
    A frame with no two clusters (all soil here) has no levels: the net runs, and its cover is compared with the share
    of pixels on the vegetation side of the image's own split (none); beyond the tolerance it is flagged and the
    interval spans both."""
    from edgeinv.apps.veg_cover.confidence import CROSS_CHECK

    rng = np.random.default_rng(1)
    rgb = np.full((64, 64, 3), [120, 100, 80], float) + rng.normal(0, 3, (64, 64, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buf, format="PNG")

    def runner(cover):
        return lambda x: {"cover_fraction": np.full((1, *x.shape[-2:]), cover, np.float32),
                          "cover_fraction_std": np.full((1, *x.shape[-2:]), 0.02, np.float32)}

    s = vc_app.read(buf.getvalue(), filename="f.png", gsd_cm=4.0)
    assert vc_app.config_for(s) == "rgb"
    far = vc_app.predict(s, runner(0.6)).extra
    assert "unmixing" not in far and far["cluster_split_cover"] == 0.0
    assert far["ood"] and any("disagree" in r for r in far["ood_reasons"])
    assert far["fvc_interval"][0] == 0.0 and far["fvc_interval"][1] >= 0.6 - 1e-6
    near = vc_app.predict(vc_app.read(buf.getvalue(), filename="f.png", gsd_cm=4.0), runner(0.01)).extra
    assert not any("disagree" in r for r in near["ood_reasons"]) and CROSS_CHECK >= 0.01


def test_segmentation_forced_at_a_coarse_gsd_is_flagged(vc_app):
    """``--path segment`` at a GSD the app would unmix: pixels are mixed, a mask counts each as all or nothing."""
    rng = np.random.default_rng(2)
    leaf = np.zeros((64, 64), bool)
    leaf[8:24, 8:40] = True
    rgb = np.where(leaf[..., None], [50, 150, 60], [120, 100, 80]) + rng.normal(0, 3, (64, 64, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buf, format="PNG")

    def runner(x):
        p = 1.0 / (1.0 + np.exp(-(x[:, 0] - 0.5) * 14.0))
        return {"cover_fraction": p.astype(np.float32)}

    def reasons(**kw):
        s = vc_app.read(buf.getvalue(), filename="f.png", path="segment", **kw)
        return vc_app.predict(s, runner).extra["ood_reasons"]

    assert not any("GSD" in r for r in reasons(gsd_cm=1.0)) and not any("GSD" in r for r in reasons())
    assert any("pixels mix leaf and background" in r for r in reasons(gsd_cm=4.0))


def test_coarse_frames_of_a_labelled_image(tmp_path, vc_app):
    """One labelled image at each sweep GSD: the frame area-averaged by k and the mask's share over the same whole
    blocks; a GSD leaving fewer than MIN_SIDE_PX pixels is not made, nor is anything for an unreadable image."""
    from edgeinv.apps.veg_cover.real_gsd import MIN_SIDE_PX, coarse_frames, mask_rows

    rng = np.random.default_rng(3)
    img = (rng.random((90, 130, 3)) * 255).astype(np.uint8)
    mask = np.zeros((90, 130), np.uint8)
    mask[10:50, 20:95] = 255
    Image.fromarray(img).save(tmp_path / "a.png")
    Image.fromarray(mask).save(tmp_path / "a_mask.png")
    (tmp_path / "fvc_labels.csv").write_text("dataset,image,mask,true_fvc\n"
                                             f"t,a.png,a_mask.png,{(mask > 0).mean():.6f}\n"
                                             "t,gone.png,a_mask.png,0.25\n"
                                             "t,b.png,,0.1\n")
    rows = mask_rows(tmp_path)
    assert [r["image"] for r in rows] == ["a.png", "gone.png"]  # the row without a mask is not a labelled image
    got = list(coarse_frames(vc_app, tmp_path, rows[0], gsds_cm=(0.5, 2.0, 4.0), native_mm=0.5))
    assert [(g, k) for g, k, *_ in got] == [(0.5, 10), (2.0, 40)]  # k = 80 leaves 1 x 1 < MIN_SIDE_PX
    assert 90 // 80 < MIN_SIDE_PX
    for _, k, native, data, truth in got:
        assert native.bands.shape[1:] == (90, 130)
        assert _decode(data).shape == (3, 90 // k, 130 // k)
        assert truth == pytest.approx(block_mean((mask > 0).astype(np.float64), k).mean())
    assert list(coarse_frames(vc_app, tmp_path, rows[1])) == []
