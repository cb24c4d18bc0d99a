"""Fixtures for the veg-cover tests: the app, a tiny random-weight ONNX cover model, example GeoTIFFs."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinv.common.app import get_app


@pytest.fixture(scope="session")
def vc_app():
    return get_app("veg-cover")


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory, vc_app):
    """A multispectral5 CoverNet with random weights exported through the core (dynamic H, W)."""
    torch = pytest.importorskip("torch")
    from edgeinv.common.export import export_onnx
    from edgeinv.common.train import TrainedModel
    from edgeinv.apps.veg_cover.model import build

    torch.manual_seed(0)
    module = build(in_channels=7, size="teacher", config="multispectral5").eval()
    trained = TrainedModel(module=module, norm={"cover_fraction": {"mean": 0.4, "std": 0.3}})
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    x = np.random.default_rng(0).random((2, 7, 32, 32), dtype=np.float32)
    export_onnx(trained, vc_app, "multispectral5", path, example_x=x, variant="teacher_fp32")
    return path


@pytest.fixture(scope="session")
def tiny_runner(tiny_onnx):
    from edgeinv.common.runtime.session import OnnxModel

    return OnnxModel(tiny_onnx, threads=1)


def write_geotiff(path, bands: np.ndarray, *, descriptions=None, crs="EPSG:32631", transform=None, nodata=None,
                  dtype=None, tiled=False, scales=None):
    """A small GeoTIFF written with rasterio (bands (C, H, W))."""
    import rasterio
    from affine import Affine

    c, h, w = bands.shape
    profile = {"driver": "GTiff", "width": w, "height": h, "count": c, "dtype": dtype or str(bands.dtype)}
    if crs is not None:
        profile.update(crs=crs, transform=transform or Affine(0.05, 0.0, 680000.0, 0.0, -0.05, 5762000.0))
    if nodata is not None:
        profile["nodata"] = nodata
    if tiled:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(bands.astype(profile["dtype"]))
        for i, d in enumerate(descriptions or [], start=1):
            ds.set_band_description(i, d)
        if scales is not None:
            ds.scales = scales
    return path


@pytest.fixture(scope="session")
def write_tif():
    """The GeoTIFF writer above, as a fixture (tests cannot import conftest under importlib mode)."""
    return write_geotiff


@pytest.fixture
def ms_bands():
    """A 5-band reflectance image (48 x 40): soil on the left, a canopy on the right."""
    h, w = 40, 48
    soil = np.array([0.12, 0.15, 0.19, 0.21, 0.25], np.float32)
    veg = np.array([0.03, 0.08, 0.04, 0.20, 0.45], np.float32)
    frac = np.clip((np.arange(w) - 10) / 28, 0, 1)[None, :].repeat(h, 0)
    return (soil[:, None, None] * (1 - frac) + veg[:, None, None] * frac).astype(np.float32)
