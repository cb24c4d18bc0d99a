"""The cover network: output layout, receptive field vs tile margin, a tiny training run, ONNX with any H, W."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgeinv.apps.veg_cover import tiling  # noqa: E402
from edgeinv.apps.veg_cover.model import ARCH, receptive_radius  # noqa: E402
from edgeinv.common.app import ModelSize  # noqa: E402


@pytest.mark.parametrize("config", ["multispectral5", "red_nir", "rgb"])
@pytest.mark.parametrize("size", list(ModelSize))
def test_output_layout_and_receptive_field(vc_app, config, size):
    net = vc_app.build_model(config, size).eval()
    c = vc_app.input_shape(config)[0]
    mean, logvar = net(torch.zeros(2, c, 21, 34))
    assert mean.shape == logvar.shape == (2, 21, 34)
    k = ARCH[(size.value, config)][2]["s2d"] if len(ARCH[(size.value, config)]) > 2 else 1
    assert receptive_radius(net) == k * sum(ARCH[(size.value, config)][1]) + k - 1 <= tiling.MARGIN_PX


@pytest.mark.parametrize("config", ["red_nir", "red_nir_fine"])
@pytest.mark.parametrize("size", list(ModelSize))
def test_receptive_radius_is_real(vc_app, config, size):
    """Changing a pixel farther away than the radius (either side, either pixel of a 2 x 2 group) must not
    change the output; the farthest pixel within it must, on one side."""
    torch.manual_seed(0)
    net = vc_app.build_model(config, size).eval()
    r = receptive_radius(net)
    x = torch.rand(1, vc_app.input_shape(config)[0], 41, 41)
    for col in (20, 21):
        base = net(x)[0][0, 20, col]
        reach = []
        for step in (-1, 1):
            far, near = x.clone(), x.clone()
            far[0, :, 20, col + step * (r + 1)] += 5.0
            near[0, :, 20, col + step * r] += 5.0
            assert net(far)[0][0, 20, col] == base
            reach.append(bool(net(near)[0][0, 20, col] != base))
        assert any(reach)


def test_space_to_depth_nets_take_any_size_and_keep_full_resolution(vc_app):
    """The coarse nets see 2 x 2 groups but give one value per pixel, for odd sizes too; neighbouring pixels of
    a group get different outputs."""
    torch.manual_seed(0)
    net = vc_app.build_model("multispectral5", ModelSize.STUDENT).eval()
    assert net.s2d == 2
    for h, w in ((1, 1), (2, 3), (33, 20)):
        mean, logvar = net(torch.rand(1, 7, h, w))
        assert mean.shape == logvar.shape == (1, h, w)
    mean = net(torch.rand(1, 7, 16, 16))[0][0]
    assert not torch.allclose(mean[:, 0::2], mean[:, 1::2])


def test_tiny_training_run_exports_with_dynamic_size(vc_app, tmp_path):
    from edgeinv.common.export import export_onnx
    from edgeinv.common.runtime.session import OnnxModel
    from edgeinv.common.train import build_seeded, fit

    rng = np.random.default_rng(0)
    train = vc_app.simulate(12, rng=rng, config="red_nir")
    val = vc_app.simulate(4, rng=rng, config="red_nir")
    recipe = dataclasses.replace(vc_app.recipe("red_nir"), epochs=2, batch_size=4)
    model = build_seeded(vc_app, "red_nir", ModelSize.STUDENT, seed=0)
    trained = fit(model, train, val, vc_app, recipe=recipe, progress=False)
    assert len(trained.history) == 2 and np.isfinite(trained.best_val_loss)
    path = tmp_path / "m.onnx"
    report = export_onnx(trained, vc_app, "red_nir", path, example_x=val.x, variant="student_fp32")
    assert report["ok"]
    out = OnnxModel(path)(np.random.default_rng(1).random((1, 4, 45, 71), dtype=np.float32))
    assert out["cover_fraction"].shape == out["cover_fraction_std"].shape == (1, 45, 71)
    assert np.all(out["cover_fraction_std"] > 0)


def test_blocks_apply_relu_after_the_residual_add():
    """The fusable order (conv + add + ReLU): outputs of a block are never negative; the former order
    (ReLU, then add) passes negative inputs through."""
    from edgeinv.apps.veg_cover.model import SeparableBlock

    torch.manual_seed(0)
    x = torch.randn(1, 16, 9, 9)
    assert (SeparableBlock(16).eval()(x) >= 0).all()
    assert (SeparableBlock(16, relu_after_add=False).eval()(x) < 0).any()


def test_students_are_width_16_with_few_blocks():
    """Issue 13: width 8 ran no faster than 16 in ORT (memory-bound); fewer blocks did; the multispectral and
    red+NIR nets work on 2 x 2 groups (RGB lost accuracy that way and stays at full resolution)."""
    for (size, config), (width, dilations, *options) in ARCH.items():
        s2d = bool(options and options[0].get("s2d") == 2)
        if size == "student":
            assert width % 16 == 0 and len(dilations) == (1 if s2d else 2)
        assert s2d == (config in ("multispectral5", "red_nir"))


def test_export_runs_the_per_pixel_path_as_a_matmul(vc_app, tmp_path):
    """Issue 13: the exported graph computes the per-pixel path as a MatMul over the pixels (ORT's NCHWc 1 x 1
    convolution on the 7-channel input was ~4x slower); training keeps the convolution, and the ONNX outputs equal
    torch's (export_onnx's parity check, and here at an odd size)."""
    import onnx

    from edgeinv.common.export import PhysicalWrapper, export_onnx
    from edgeinv.common.runtime.session import OnnxModel
    from edgeinv.common.train import TrainedModel

    torch.manual_seed(0)
    net = vc_app.build_model("multispectral5", ModelSize.TEACHER).eval()
    assert net.skip is not None
    norm = {"cover_fraction": {"mean": 0.3, "std": 0.4}}
    path = tmp_path / "t.onnx"
    x = np.random.default_rng(0).random((2, 7, 24, 30), dtype=np.float32)
    assert export_onnx(TrainedModel(module=net, norm=norm), vc_app, "multispectral5", path, example_x=x,
                       variant="teacher_fp32")["ok"]
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("MatMul") == 1
    convs_on_input = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Conv" and n.input[0] == "x"]
    assert len(convs_on_input) == 1  # the stem only
    x5 = np.random.default_rng(1).random((1, 7, 37, 23), dtype=np.float32)
    out = OnnxModel(path)(x5)
    with torch.no_grad():
        ref = PhysicalWrapper(net, vc_app, norm).eval()(torch.from_numpy(x5))
    np.testing.assert_allclose(out["cover_fraction"], ref[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(out["cover_fraction_std"], ref[1].numpy(), rtol=1e-5, atol=1e-6)
