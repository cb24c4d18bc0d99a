"""A command line that names one app builds (and imports) that app only: `edgeinv veg-cover serve` must not carry
the other apps' imports (scipy for bearing-wear and leaf-nitrogen: ~18 MB of a serving process's 150 MB budget)."""

import json
import subprocess
import sys

import pytest

from edgeinv.common.cli import _named_app

PROBE = """
import json, sys
from edgeinv.common.cli import build_parser
p = build_parser({only!r})
args = p.parse_args({argv!r})
print(json.dumps({{"apps": sorted({{m.split(".")[2] for m in sys.modules if m.startswith("edgeinv.apps.")
                                   and m.count(".") >= 2}}),
                  "scipy": any(m == "scipy" or m.startswith("scipy.") for m in sys.modules),
                  "command": args.command}}))
"""


def _probe(only, argv):
    out = subprocess.run([sys.executable, "-c", PROBE.format(only=only, argv=argv)], capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_named_app_is_found_past_global_options():
    assert _named_app(["--data-dir", "d", "--threads", "2", "veg-cover", "serve", "--port", "1"]) == "veg-cover"
    assert _named_app(["--json", "leaf-nitrogen", "predict", "x.csv"]) == "leaf-nitrogen"
    assert _named_app(["--models-dir", "veg-cover", "apps"]) is None  # the value of an option, not a command
    assert _named_app(["serve"]) is None and _named_app(["selftest", "veg-cover"]) is None and _named_app([]) is None


@pytest.mark.parametrize("app", ["veg-cover", "leaf-nitrogen", "bearing-wear"])
def test_one_app_command_line_imports_that_app_only(app):
    r = _probe(app, [app, "serve"])
    assert r["command"] == app and r["apps"] == [app.replace("-", "_")]
    if app == "veg-cover":
        assert not r["scipy"], "veg-cover's edge side (reading, features, model, serving) is scipy-free"


def test_core_command_line_still_offers_every_app():
    r = _probe(None, ["selftest", "veg-cover"])
    assert r["apps"] == ["bearing_wear", "leaf_nitrogen", "veg_cover"] and r["command"] == "selftest"


PREDICT = """
import json, sys
from edgeinv.common.cli import main
codes = [main(["veg-cover", "predict", f, "--out", f + ".cover.tif", "--json", *extra]) for f, extra in {files!r}]
print(json.dumps({{"codes": codes, "scipy": sorted(m for m in sys.modules if m == "scipy" or m.startswith("scipy."))}}))
"""


def test_veg_cover_predict_path_stays_scipy_free(tmp_path):
    """What a veg-cover server runs for a frame and for a GeoTIFF of camera counts (the linear-unmixing path with its
    interior pixels) imports no scipy -- the serving process's 150 MB budget (scripts/serve_rss.py) depends on it."""
    import numpy as np
    import rasterio
    from PIL import Image
    from rasterio.transform import from_origin

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:160, :200]
    img = np.empty((160, 200, 3), np.uint8)
    img[:] = (150, 115, 85)
    for cy, cx in rng.uniform((0, 0), (160, 200), (20, 2)):
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 60] = (70, 150, 50)
    frame = tmp_path / "frame.png"
    Image.fromarray(img).save(frame)
    plant = rng.random((96, 96)) < 0.3  # camera counts (DN, no reflectance scaling): soil 400, leaves red-dark NIR-bright
    counts = np.where(plant, np.array([200, 350, 150, 600, 1200])[:, None, None], 400).astype(np.uint16)
    tif = tmp_path / "counts.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=96, height=96, count=5, dtype="uint16", crs="EPSG:32631",
                       transform=from_origin(600000, 5760000, 0.05, 0.05)) as ds:
        ds.write(counts)
    out = subprocess.run([sys.executable, "-c", PREDICT.format(files=[(str(frame), []), (str(tif), ["--bands", "blue,green,red,rededge,nir"])])], capture_output=True,
                         text=True, timeout=300)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["codes"] == [0, 0], out.stderr[-2000:]
    assert r["scipy"] == []
