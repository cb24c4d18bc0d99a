"""torch -> ONNX export: parity, physical units, dynamic axes, metadata, checkpoints, graph stats."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgeinv.common.errors import ExportParityError, ModelError  # noqa: E402
from edgeinv.common.export import export_onnx, load_checkpoint, predict_physical, save_checkpoint  # noqa: E402
from edgeinv.common.runtime.graphstats import graph_stats  # noqa: E402
from edgeinv.common.runtime.session import OnnxModel, read_metadata  # noqa: E402
from edgeinv.common.train import TrainedModel  # noqa: E402

from toyapp import IMAGE, SIGNAL, TOY_APPS, VECTOR, data, teacher  # noqa: E402

PARITY_ATOL = 1e-4  # physical units; FP32 ORT vs torch differ by float rounding only


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    out = {}
    for kind, app in TOY_APPS.items():
        path = root / f"{kind}.onnx"
        report = export_onnx(teacher(kind), app, "default", path, example_x=data(kind)[1].x, variant="teacher_fp32")
        out[kind] = (path, report)
    return out


@pytest.mark.parametrize("kind", ["signal", "vector", "image"])
def test_onnx_matches_torch_in_physical_units(exported, kind):
    app = TOY_APPS[kind]
    path, report = exported[kind]
    assert report["ok"] and report["max_abs"] < PARITY_ATOL * 10 and report["max_rel"] < 1e-3
    assert set(report["outputs"]) == set(app.output_names())
    test = data(kind)[2]
    onnx_out = OnnxModel(path)(test.x)
    torch_out = predict_physical(teacher(kind), app, test.x)
    for name in app.output_names():
        scale = max(1.0, float(np.max(np.abs(torch_out[name]))))
        np.testing.assert_allclose(onnx_out[name], torch_out[name], rtol=1e-4, atol=PARITY_ATOL * scale)


def test_wrapper_emits_probabilities_std_and_units(exported):
    out = OnnxModel(exported["signal"][0])(data("signal")[2].x)
    np.testing.assert_allclose(out["fault"].sum(axis=1), 1.0, atol=1e-5)
    assert np.all(out["fault"] >= 0)
    assert np.all(out["amp_mm_std"] > 0)
    amp = out["amp_mm"]  # in mm, near the simulated range 0.5..2.0, not z-scores
    assert 0.3 < amp.min() and amp.max() < 2.3


def test_dynamic_batch_and_spatial_axes(exported):
    m = OnnxModel(exported["vector"][0])
    x = data("vector")[2].x
    assert m(x[:1])["lin_g"].shape == (1,) and m(x[:7])["quad_g"].shape == (7,)
    img = OnnxModel(exported["image"][0])
    big = np.random.default_rng(0).uniform(0, 0.6, (2, 3, 24, 20)).astype(np.float32)
    assert img(big)["cover"].shape == (2, 24, 20)


def test_metadata_describes_the_model(exported):
    meta = read_metadata(exported["signal"][0])
    assert meta["app"] == "toy-signal" and meta["config"] == "default" and meta["variant"] == "teacher_fp32"
    assert meta["output_names"] == ["fault", "amp_mm", "amp_mm_std"]
    assert meta["input_shape"] == [1, 128]
    assert meta["preprocessing_version"] == SIGNAL.preprocessing_version
    targets = {t["name"]: t for t in meta["targets"]}
    assert targets["amp_mm"]["unit"] == "mm" and targets["amp_mm"]["uncertainty"] is True
    assert targets["fault"]["classes"] == ["slow", "mid", "fast"]
    assert meta["normalisation"]["amp_mm"]["std"] == pytest.approx(teacher("signal").norm["amp_mm"]["std"])
    assert OnnxModel(exported["signal"][0]).metadata == meta


def test_graph_stats_counts_params_and_flops_by_hand(exported):
    s = graph_stats(exported["vector"][0])
    # MLP 12 -> 64 -> 64 -> 2: weights + biases, plus 2x2 normalisation constants of the wrapper
    assert s["params"] == (12 * 64 + 64) + (64 * 64 + 64) + (64 * 2 + 2) + 4
    assert s["flops"] == 2 * (12 * 64 + 64 * 64 + 64 * 2)
    img = graph_stats(exported["image"][0])
    hw = 16 * 16
    assert img["flops"] == 2 * (hw * 16 * 3 * 9 + hw * 16 * 16 * 9 + hw * 1 * 16)


class _Branchy(torch.nn.Module):
    """Data-dependent control flow: tracing freezes one branch, so the ONNX graph disagrees."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(12, 2)

    def forward(self, x):
        o = self.lin(x)
        if float(x.sum()) > 0:
            o = o * 3.0
        return o[:, 0], o[:, 1]


def test_parity_failure_raises(tmp_path):
    x = data("vector")[1].x[:8].copy()
    x[:2] = np.abs(x[:2])  # traced branch: positive sum; the full batch below may differ
    x[2:] = -np.abs(x[2:])
    trained = TrainedModel(module=_Branchy().eval(), norm=teacher("vector").norm)
    with pytest.raises(ExportParityError, match="past tolerance"):
        export_onnx(trained, VECTOR, "default", tmp_path / "bad.onnx", example_x=x, variant="x")


def test_checkpoint_roundtrip(tmp_path):
    path = tmp_path / "teacher.pt"
    save_checkpoint(teacher("image"), IMAGE, "default", path)
    back = load_checkpoint(IMAGE, "default", path)
    x = data("image")[2].x[:4]
    np.testing.assert_array_equal(predict_physical(back, IMAGE, x)["cover"],
                                  predict_physical(teacher("image"), IMAGE, x)["cover"])
    with pytest.raises(ModelError, match="belongs to app"):
        load_checkpoint(VECTOR, "default", path)
    with pytest.raises(ModelError, match="not found"):
        load_checkpoint(IMAGE, "default", tmp_path / "none.pt")


def test_metadata_json_is_strings_in_the_file(exported):
    import onnx

    props = {p.key: p.value for p in onnx.load(str(exported["image"][0])).metadata_props}
    assert json.loads(props["targets"])[0]["per_pixel"] is True
    assert json.loads(props["dynamic_axes"])["x"] == {"0": "batch", "2": "height", "3": "width"}


def test_graph_stats_conv_transpose_and_matmul(tmp_path):
    class Up(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = torch.nn.ConvTranspose2d(4, 2, 2, stride=2)
            self.w = torch.nn.Parameter(torch.ones(8, 3))

        def forward(self, x):
            return self.up(x), torch.matmul(x.flatten(2).mean(-1), torch.ones(4, 8)) @ self.w

    path = tmp_path / "up.onnx"
    torch.onnx.export(Up().eval(), (torch.zeros(1, 4, 5, 6),), str(path), input_names=["x"], dynamo=False)
    s = graph_stats(path, input_shape=(4, 5, 6))
    # each input pixel x C_in scatters into C_out x 2 x 2 outputs; then (1x4)@(4x8) and (1x8)@(8x3)
    assert s["macs"] == 5 * 6 * 4 * (2 * 2 * 2) + 4 * 8 + 8 * 3
