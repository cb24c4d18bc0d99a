"""The picture under the cover map (issue 11)."""

import numpy as np

from edgeinv.apps.veg_cover.preview import preview_rgba


def test_true_and_false_colour_and_no_data():
    rng = np.random.default_rng(0)
    bands = rng.uniform(0, 0.5, (5, 40, 60)).astype(np.float32)
    valid = np.ones((40, 60), bool)
    valid[0, 0] = False
    rgba, what = preview_rgba(bands, ("blue", "green", "red", "rededge", "nir"), valid=valid)
    assert what == "true colour" and rgba.shape == (40, 60, 4) and rgba[0, 0, 3] == 0 and rgba[1, 1, 3] == 255
    assert rgba[..., 0].max() == 255 and rgba[..., 0].min() == 0  # stretched
    _, what = preview_rgba(bands[3:], ("red", "nir"))
    assert what == "first band (grey)"
    _, what = preview_rgba(bands[1:], ("green", "red", "rededge", "nir"))
    assert what.startswith("false colour (NIR-RED-GREEN")
    big, _ = preview_rgba(np.zeros((3, 3000, 1500), np.float32), ("red", "green", "blue"), max_side=1024)
    assert max(big.shape[:2]) <= 1024
