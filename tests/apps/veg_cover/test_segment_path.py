"""Segmentation path: chosen by GSD, cover = share of vegetation pixels, interval and OOD flag; evaluate_real on a tiny folder."""

import csv
import json

import cv2
import numpy as np
import pytest

from edgeinv.apps.veg_cover import path_for


def _fake_runner(x):
    """Stands in for a segmentation model: P(vegetation) from the Fisher channel."""
    p = 1.0 / (1.0 + np.exp(-(x[:, 0] - 0.45) * 14.0))
    return {"cover_fraction": p.astype(np.float32), "cover_fraction_std": np.sqrt(p * (1 - p)).astype(np.float32)}


def _frame(rng, cover, shape=(96, 128)):
    """RGB counts: textured brown soil, green leaves as discs, each lit differently (real and simulated frames are
    never two flat colours: see confidence.MAX_SEPARATION); returns BGR uint8 and the true mask."""
    mask = np.zeros(shape, np.uint8)
    light = np.ones(shape, np.float32)
    while mask.mean() < cover:
        centre, radius = (int(rng.integers(0, shape[1])), int(rng.integers(0, shape[0]))), int(rng.integers(3, 9))
        cv2.circle(mask, centre, radius, 1, -1)
        cv2.circle(light, centre, radius, float(rng.uniform(0.6, 1.2)), -1)
    soil = np.array([60, 90, 120], np.float32)   # BGR
    leaf = np.array([40, 160, 80], np.float32)
    img = np.where(mask[..., None] > 0, leaf * light[..., None], soil) + rng.normal(0, 10, (*shape, 3))
    return np.clip(img, 0, 255).astype(np.uint8), mask.astype(bool)


def test_path_follows_gsd(vc_app, tmp_path):
    rng = np.random.default_rng(0)
    img, _ = _frame(rng, 0.2)
    data = cv2.imencode(".png", img)[1].tobytes()
    s = vc_app.read(data, filename="f.png")
    assert path_for(s)[0] == "segment" and vc_app.config_for(s) == "rgb_fine"
    s = vc_app.read(data, filename="f.png", gsd_cm=5.0)
    assert path_for(s)[0] == "unmix" and vc_app.config_for(s) == "rgb"
    s = vc_app.read(data, filename="f.png", path="unmix")
    assert vc_app.config_for(s) == "rgb"


def test_segment_predict_gives_share_interval_and_flags(vc_app):
    rng = np.random.default_rng(1)
    img, mask = _frame(rng, 0.25)
    s = vc_app.read(cv2.imencode(".png", img)[1].tobytes(), filename="f.png")
    r = vc_app.predict(s, _fake_runner)
    assert r.extra["path"] == "segment" and r.extra["radiometry"] == "dn"
    assert abs(r.fvc_mean - mask.mean()) < 0.02
    lo, hi = r.extra["fvc_interval"]
    assert lo <= r.fvc_mean <= hi and r.extra["ood"] is False
    assert set(np.unique(r.cover[np.isfinite(r.cover)])) <= {0.0, 1.0}
    doc = r.to_dict()
    assert {"path", "fvc_interval", "fvc_uncertainty", "ood", "ood_reasons", "levels"} <= set(doc)
    json.dumps(doc)


def test_bare_soil_frame_is_flagged(vc_app):
    rng = np.random.default_rng(2)
    img, _ = _frame(rng, 0.0)
    r = vc_app.predict(vc_app.read(cv2.imencode(".png", img)[1].tobytes(), filename="soil.png"), _fake_runner)
    assert r.extra["ood"] and r.extra["ood_reasons"]


def test_evaluate_real_on_a_tiny_folder(vc_app, tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "imgs").mkdir()
    rows = []
    for i, cover in enumerate((0.1, 0.3)):
        img, mask = _frame(rng, cover)
        cv2.imwrite(str(tmp_path / "imgs" / f"{i}.png"), img)
        cv2.imwrite(str(tmp_path / "imgs" / f"{i}_mask.png"), (mask * 255).astype(np.uint8))
        rows.append({"dataset": "synthetic", "image": f"imgs/{i}.png", "mask": f"imgs/{i}_mask.png",
                     "true_fvc": f"{mask.mean():.4f}"})
    with open(tmp_path / "fvc_labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    before = sorted(p.name for p in (tmp_path / "imgs").iterdir())
    res = vc_app.evaluate_real(tmp_path, lambda config: _fake_runner)
    assert sorted(p.name for p in (tmp_path / "imgs").iterdir()) == before  # nothing written next to inputs
    assert res["summary"]["n_images"] == 2 and res["summary"]["within_0.03"] == 2
    row = res["rows"][0]
    assert {"index_otsu", "index_fixed", "index_min_error"} == set(row["baselines"])
    assert row["pixels"]["pixel_accuracy"] > 0.95
    z = res["summary"]["zones"]  # zones checked against the masks: counts add up, a clean frame's zones are right
    assert z["zones"] == sum(r["pixels"]["zones"] for r in res["rows"]) > 0
    assert z["zone_misses"] == z["zones"] - z["zones_within"] and z["zone_misses_flagged"] <= z["zone_misses"]
    assert z["zones_within"] >= 0.8 * z["zones"]
    assert "synthetic" in res["text"] and "zones vs masks" in res["text"]
    # the same frames area-averaged to coarser GSDs, both paths; frames under 2 px a side are not made
    g = res["gsd"]
    assert {r["gsd_cm"] for r in g["rows"]} == {0.5, 1.0, 2.0} and all(r["k"] >= 10 for r in g["rows"])
    e = g["summary"]["per_dataset"]["synthetic"]
    assert e["0.5"]["auto_path"] == "segment" and e["2"]["auto_path"] == "unmix"
    assert e["0.5"]["segment"]["n"] == 2 and "index_dimidiate" in e["0.5"]["baselines"]
    assert "coarser ground resolution" in res["text"]
    json.dumps(res)


def test_evaluate_real_needs_labels(vc_app, tmp_path):
    from edgeinv.common.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="fvc_labels.csv"):
        vc_app.evaluate_real(tmp_path, lambda config: _fake_runner)


def test_segment_pixel_sd_marks_ambiguous_and_boundary_pixels():
    """sd 0.5 where P is within 0.1 of the decision or a pixel lies either side of the mask's boundary."""
    from edgeinv.apps.veg_cover.confidence import SegmentSink

    class Keep:
        def add(self, **kw):
            self.kw = kw

    p = np.zeros((7, 9), np.float32)
    p[2:5, 3:6] = 0.9      # a 3 x 3 plant
    p[0, 8] = 0.45         # one ambiguous pixel far from it (background: no boundary around it)
    keep = Keep()
    SegmentSink([keep]).add(row=0, col=0, cover=p, std=None, valid=np.ones(p.shape, bool))
    sd, mask = keep.kw["std"], keep.kw["cover"]
    assert mask.sum() == 9 and sd[0, 8] == 0.5
    ring = np.zeros(p.shape, bool)
    ring[1:6, 2:7] = True
    ring[3, 4] = False     # the plant's centre is sure; its rim and the background ring around it are not
    ring[1, 2] = ring[1, 6] = ring[5, 2] = ring[5, 6] = False  # diagonal neighbours do not touch the boundary
    assert np.array_equal(sd[:, :8] == 0.5, ring[:, :8])


def test_cue_conflict_marks_pixels_unsure_widens_the_interval_and_flags():
    """Where the band coordinate and the chromatic one disagree (a shaded leaf), the pixel is unsure, the
    interval opens on its side, and an image with many such pixels is flagged."""
    from edgeinv.apps.veg_cover import features
    from edgeinv.apps.veg_cover.confidence import SegmentSink

    x = np.zeros((3, 6, 8), np.float32)
    x[:, :, :4] = 1.0                  # vegetation by both cues
    x[0, :, 6:] = 0.3                  # dark by the bands ...
    x[1, :, 6:] = 0.9                  # ... green by colour: a shaded leaf
    conflict = features.cue_conflict(x)
    assert conflict[:, 6:].min() == 0.5 and conflict[:, :6].max() == 0.0

    class Keep:
        def add(self, **kw):
            self.kw = kw

    p = np.where(x[0] > 0.5, 0.95, 0.05).astype(np.float32)
    keep = Keep()
    sink = SegmentSink([keep])
    sink.add(row=0, col=0, cover=p, std=conflict, valid=np.ones(p.shape, bool))
    assert (keep.kw["std"][:, 6:] == 0.5).all()
    assert sink.n_conflict_out == 12 and sink.n_conflict_in == 0


def test_pixel_classes_sort_the_differences_between_model_and_mask():
    """Missed shaded leaf, missed rim, a false bright tray: each lands in its class, shares of all pixels."""
    from types import SimpleNamespace

    from edgeinv.apps.veg_cover.real_eval import CLASSES, pixel_classes

    h, w = 20, 30
    bands = np.full((3, h, w), 0.1, np.float32)                       # dark soil
    mask = np.zeros((h, w), bool)
    mask[2:12, 2:12] = True                                          # a leaf ...
    bands[:, 2:12, 2:12] = np.array([0.3, 0.6, 0.2], np.float32)[:, None, None]
    bands[:, 8:12, 6:12] = np.array([0.1, 0.2, 0.07], np.float32)[:, None, None]  # ... shaded at one end
    bands[:, :, 24:] = 0.9                                           # a white tray
    pred = mask.copy()
    pred[2, 2:12] = False                                            # the top rim missed
    pred[8:11, 6:11] = False                                         # shaded part missed (inside, not rim)
    pred[14:18, 25:29] = True                                        # the tray taken for a plant
    sample = SimpleNamespace(load=lambda: SimpleNamespace(bands=bands, band_names=("red", "green", "blue")))
    c = pixel_classes(sample, SimpleNamespace(cover=pred.astype(np.float32)), mask)
    n = h * w
    assert set(c) == set(CLASSES)
    assert c["missed_rim"] == 10 / n and c["missed_shaded"] == 15 / n and c["missed_pale"] == 0
    assert c["false_bright_surface"] == 16 / n and c["false_rim"] == 0 and c["false_halo"] == 0
    assert abs(c["missed"] - sum(c[k] for k in CLASSES[1:6])) < 1e-12
    assert abs(c["false"] - sum(c[k] for k in CLASSES[7:])) < 1e-12


def test_error_budget_names_saturated_leaves_halos_and_unlabelled_plants():
    """A leaf clipped white in every channel, a model outline 3 px wider than the mask, and a green plant the
    mask leaves out each land in their own class."""
    from types import SimpleNamespace

    from edgeinv.apps.veg_cover.real_eval import pixel_classes

    h, w = 40, 60
    bands = np.full((3, h, w), 0.1, np.float32)
    leaf = np.array([0.3, 0.6, 0.2], np.float32)[:, None, None]
    mask = np.zeros((h, w), bool)
    mask[5:15, 5:15] = True
    bands[:, 5:15, 5:15] = leaf
    bands[:, 8:12, 8:12] = 1.0                                       # clipped white inside the leaf
    bands[:, 25:35, 40:50] = leaf                                    # a plant the mask leaves out
    pred = np.zeros((h, w), bool)
    pred[2:18, 2:18] = True                                          # 3 px wider than the mask
    pred[8:12, 8:12] = False                                         # the white part missed
    pred[25:35, 40:50] = True
    sample = SimpleNamespace(load=lambda: SimpleNamespace(bands=bands, band_names=("red", "green", "blue")))
    c = pixel_classes(sample, SimpleNamespace(cover=pred.astype(np.float32)), mask)
    n = h * w
    assert c["missed_saturated"] == 16 / n and c["false_unlabelled_plant"] == 100 / n
    assert c["false_rim"] + c["false_halo"] == (16 * 16 - 100) / n and c["false_halo"] > 0


def test_saturated_pixels_are_unsure_and_widen_the_interval(vc_app):
    """Pixels clipped in every channel carry no colour: marked unsure (pixel sd 0.5), the interval widens by
    them; one clipped channel alone (a bright green leaf) is not."""
    rng = np.random.default_rng(5)
    img, mask = _frame(rng, 0.25)
    plain = vc_app.predict(vc_app.read(cv2.imencode(".png", img)[1].tobytes(), filename="f.png"), _fake_runner)
    white = img.copy()
    white[10:30, 10:40] = 255          # every channel clipped: 600 px
    green = img.copy()
    green[10:30, 10:40, 1] = 255       # only green clipped
    r_white = vc_app.predict(vc_app.read(cv2.imencode(".png", white)[1].tobytes(), filename="w.png"), _fake_runner)
    r_green = vc_app.predict(vc_app.read(cv2.imencode(".png", green)[1].tobytes(), filename="g.png"), _fake_runner)
    assert np.all(r_white.std[10:30, 10:40] == 0.5)
    assert not np.all(r_green.std[10:30, 10:40] == 0.5)
    width = lambda r: r.extra["fvc_interval"][1] - r.extra["fvc_interval"][0]  # noqa: E731
    assert width(r_white) >= width(plain) + 0.5 * 600 / img[..., 0].size


def test_fine_models_take_either_cameras_coordinates(vc_app):
    """The segmentation input is the same three coordinates for any camera: an RGB frame preprocessed for the
    red+NIR model gives exactly its RGB input (what lets a calibration on one camera's masks serve the other)."""
    from edgeinv.apps.veg_cover.features import fine_input_config

    rng = np.random.default_rng(6)
    img, _ = _frame(rng, 0.3)
    s = vc_app.read(cv2.imencode(".png", img)[1].tobytes(), filename="f.png")
    assert fine_input_config(s.band_names, "red_nir_fine") == "rgb_fine"
    assert fine_input_config(("red", "nir"), "red_nir_fine") == "red_nir_fine"
    np.testing.assert_array_equal(vc_app.preprocess(s, config="red_nir_fine"), vc_app.preprocess(s, config="rgb_fine"))


def _png(bgr):
    return cv2.imencode(".png", np.clip(bgr, 0, 255).astype(np.uint8))[1].tobytes()


def test_two_flat_backgrounds_with_a_few_leaves_are_flagged_and_the_interval_holds_the_truth(vc_app):
    """The held-out simulations' worst unflagged misses (+0.4 to +0.9): soil and a tray or crate, a few leaves. The
    image's two clusters are the two backgrounds, the model reads the upper one as vegetation; nothing but their
    uniformity (d' far above any vegetation/background pair's) tells."""
    rng = np.random.default_rng(4)
    h, w = 96, 128
    img = np.empty((h, w, 3), np.float32)
    img[:, : w // 2] = (60, 90, 120)     # brown soil (BGR)
    img[:, w // 2:] = (150, 190, 170)    # a pale, slightly green-tinted tray: higher 2G - R - B than the soil
    leaves = np.zeros((h, w), np.uint8)
    for centre in ((20, 30), (90, 70), (40, 80)):
        cv2.circle(leaves, centre, 3, 1, -1)
    img[leaves > 0] = (40, 160, 80)
    img += rng.normal(0, 2, img.shape)
    r = vc_app.predict(vc_app.read(_png(img), filename="tray.png"), _fake_runner)
    truth = leaves.mean()
    assert r.fvc_mean - truth > 0.3  # the confident wrong answer this flag is for
    assert r.extra["ood"] and any("uniform" in x for x in r.extra["ood_reasons"])
    lo, hi = r.extra["fvc_interval"]
    assert lo <= truth <= hi
    # a frame of the same layout with leaves on soil (textured, leaves lit differently) is not flagged for it
    img, mask = _frame(np.random.default_rng(5), 0.1)
    r = vc_app.predict(vc_app.read(_png(img), filename="f.png"), _fake_runner)
    assert not any("uniform" in x for x in r.extra["ood_reasons"]) and abs(r.fvc_mean - mask.mean()) < 0.02


def test_mixed_boundary_pixels_count_by_their_leaf_fraction_at_a_known_gsd(vc_app):
    """A pixel half leaf counts half from 0.3 cm GSD (confidence.subpixel_fraction); at an unknown (hand-held,
    millimetre) GSD a pixel counts whole, as a hand-drawn mask counts it."""
    from edgeinv.apps.veg_cover.confidence import SUBPIXEL_MIN_GSD_M, subpixel_fraction

    h, w = 64, 128
    soil, leaf = np.array((60, 90, 120), np.float32), np.array((40, 160, 80), np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = soil
    img[:, :40] = leaf
    img[:, 40] = 0.5 * (soil + leaf)    # a column of pixels half leaf, half soil (linear mixing of the radiance)
    img += np.random.default_rng(6).normal(0, 1.0, img.shape)
    data = _png(img)
    whole = vc_app.predict(vc_app.read(data, filename="m.png"), _fake_runner)
    mixed = vc_app.predict(vc_app.read(data, filename="m.png", gsd_cm=100 * SUBPIXEL_MIN_GSD_M * 2), _fake_runner)
    assert whole.extra["path"] == mixed.extra["path"] == "segment"
    assert abs(whole.fvc_mean - 41 / w) < 0.002      # the half-leaf column counted whole (its P > 0.5)
    assert abs(mixed.fvc_mean - 40.5 / w) < 0.002    # ... and half
    lo, hi = mixed.extra["fvc_interval"]
    assert lo <= mixed.fvc_mean <= hi
    # the function itself: inside the mask and outside it unchanged, the boundary by its clipped coordinate
    p = np.array([[0.9, 0.9, 0.7, 0.2, 0.1]], np.float32)
    t = np.array([[1.3, 0.9, 0.5, 0.2, -0.4]], np.float32)
    np.testing.assert_allclose(subpixel_fraction(p, t), [[1.0, 1.0, 0.5, 0.2, 0.0]], atol=1e-6)


def test_boundary_fraction_is_the_same_tiled_and_whole(vc_app):
    """The boundary is found on each tile with its margin, so small tiles give the whole image's cover map."""
    img, _ = _frame(np.random.default_rng(9), 0.3, shape=(200, 260))
    data = _png(img)
    whole = vc_app.predict(vc_app.read(data, filename="a.png", gsd_cm=1.0), _fake_runner)
    s = vc_app.read(data, filename="a.png", gsd_cm=1.0)
    s.options["tile_px"] = 48
    tiled = vc_app.predict(s, _fake_runner)
    assert 0.0 < np.mean((whole.cover > 0) & (whole.cover < 1))  # fractions on the boundary
    np.testing.assert_allclose(tiled.cover, whole.cover, atol=1e-6)
    assert abs(tiled.fvc_mean - whole.fvc_mean) < 1e-6
