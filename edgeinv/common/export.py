"""torch -> ONNX export with physical-unit outputs, checker, parity check and edgeinv metadata.

Training side (imports torch). The exported graph is the trained module wrapped by
:class:`PhysicalWrapper`, so the edge side never sees normalised units: regression heads become
``z * sigma + mu``, log-variance heads become standard deviations ``exp(logvar / 2) * sigma``, and
classification logits become softmax probabilities. The batch axis is dynamic (and H, W for apps
with per-pixel targets). After export the file passes ``onnx.checker`` and ONNX Runtime must
reproduce torch on the example inputs within ``atol + rtol * |torch|`` (scaled per output),
otherwise :class:`~edgeinv.common.errors.ExportParityError` is raised.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from .app import ModelSize
from .errors import ExportParityError, InvalidInputError, ModelError
from .runtime.graphstats import write_metadata
from .train import LOGVAR_CLAMP, TrainedModel, canonical_outputs

__all__ = ["PhysicalWrapper", "export_onnx", "predict_physical", "save_checkpoint", "load_checkpoint",
           "onnx_metadata", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17


class PhysicalWrapper(torch.nn.Module):
    """Wraps a trained module so it returns physical units, standard deviations and probabilities."""

    def __init__(self, module: torch.nn.Module, app, norm: dict[str, dict[str, float]]):
        super().__init__()
        self.module = module
        self.app = app
        self.kinds: list[tuple[str, str]] = []  # (kind, target) per output
        mean, std = [], []
        for name in app.output_names():
            base = name[:-4] if name.endswith("_std") and name not in {t.name for t in app.targets} else name
            t = app.target(base)
            if t.is_classification:
                kind = "prob"
            elif base != name:
                kind = "std"
            else:
                kind = "value"
            self.kinds.append((kind, base))
            s = norm.get(base, {"mean": 0.0, "std": 1.0})
            mean.append(float(s["mean"]))
            std.append(float(s["std"]))
        self.register_buffer("mu", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("sigma", torch.tensor(std, dtype=torch.float32))

    def forward(self, x):
        outs = canonical_outputs(self.module(x), self.app, x.shape[0])
        result = []
        for i, ((kind, _), out) in enumerate(zip(self.kinds, outs)):
            if kind == "prob":
                result.append(torch.softmax(out, dim=1))
            elif kind == "std":
                result.append(torch.exp(0.5 * out.clamp(-LOGVAR_CLAMP, LOGVAR_CLAMP)) * self.sigma[i])
            else:
                result.append(out * self.sigma[i] + self.mu[i])
        return tuple(result)


@torch.no_grad()
def predict_physical(trained: TrainedModel, app, x: np.ndarray, *, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Torch-eager predictions in physical units (the same maths as the exported graph)."""
    wrapper = PhysicalWrapper(trained.module, app, trained.norm).eval()
    parts = []
    for i in range(0, len(x), batch_size):
        outs = wrapper(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)))
        parts.append([o.numpy() for o in outs])
    names = app.output_names()
    return {n: np.concatenate([p[j] for p in parts]) for j, n in enumerate(names)}


def onnx_metadata(app, config: str, variant: str, norm: dict, **extra) -> dict[str, str]:
    """The metadata_props edgeinv writes into every ONNX file (JSON strings where structured)."""
    targets = [{"name": t.name, "unit": t.unit, "kind": t.kind.value, "classes": list(t.classes),
                "low": t.low, "high": t.high, "per_pixel": t.per_pixel, "uncertainty": t.uncertainty}
               for t in app.targets]
    meta = {"app": app.name, "config": config, "variant": variant, "producer": "edgeinv",
            "targets": json.dumps(targets), "output_names": json.dumps(app.output_names()),
            "input_shape": json.dumps([int(s) for s in app.input_shape(config)]),
            "preprocessing_version": str(app.preprocessing_version), "normalisation": json.dumps(norm)}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()})
    return meta


def _parity(path: Path, wrapper: PhysicalWrapper, x: np.ndarray, names, *, rtol: float, atol: float) -> dict:
    from .runtime.session import OnnxModel

    model = OnnxModel(path, threads=1)
    with torch.no_grad():
        ref = [o.numpy() for o in wrapper(torch.from_numpy(x))]
    got = model(x)
    one = model(x[:1])  # the dynamic batch axis must also work at batch 1
    report: dict = {"n": int(len(x)), "rtol": rtol, "atol": atol, "outputs": {}}
    worst_abs, worst_rel, failed = 0.0, 0.0, []
    for name, r in zip(names, ref):
        g = got[name]
        if g.shape != r.shape or one[name].shape != (1, *r.shape[1:]):
            raise ExportParityError(f"ONNX output {name} has shape {g.shape}, torch {r.shape}")
        err = np.abs(g.astype(np.float64) - r)
        scale = float(np.max(np.abs(r))) or 1.0
        max_abs = float(err.max())
        max_rel = float(np.max(err / np.maximum(np.abs(r), 1e-3 * scale)))
        ok = bool(np.all(err <= atol * max(1.0, scale) + rtol * np.abs(r)))
        ok = ok and bool(np.allclose(one[name][0], g[0], rtol=rtol, atol=atol * max(1.0, scale)))
        report["outputs"][name] = {"max_abs": max_abs, "max_rel": max_rel, "ok": ok}
        worst_abs, worst_rel = max(worst_abs, max_abs), max(worst_rel, max_rel)
        if not ok:
            failed.append(name)
    report.update(max_abs=worst_abs, max_rel=worst_rel, ok=not failed)
    if failed:
        raise ExportParityError(f"ONNX differs from torch past tolerance for {failed}: max abs {worst_abs:.3g}, "
                                f"max rel {worst_rel:.3g} (rtol {rtol}, atol {atol})")
    return report


def export_onnx(trained: TrainedModel, app, config: str, path: str | Path, *, example_x: np.ndarray,
                variant: str, opset: int = DEFAULT_OPSET, rtol: float = 1e-3, atol: float = 1e-4,
                extra_metadata: dict | None = None) -> dict:
    """Export ``trained`` to ``path`` (ONNX) and check it; return the parity report.

    Parameters
    ----------
    example_x : representative model inputs ``(n, *input_shape)``; up to 32 rows are used for
        tracing and for the parity check.
    variant : the variant name stored in the metadata (``teacher_fp32``, ``pruned_fp32``...).
    rtol, atol : parity tolerance, ``|onnx - torch| <= atol * max(1, max|torch|) + rtol * |torch|``.

    Raises
    ------
    ExportParityError : ONNX Runtime output differs from torch past tolerance.
    ModelError : the exporter or checker failed.
    """
    import onnx

    x = np.ascontiguousarray(np.asarray(example_x, dtype=np.float32)[:32])
    if x.ndim < 2 or len(x) == 0:
        raise InvalidInputError(f"example_x must be a non-empty batch, got shape {x.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = trained.module.eval()
    wrapper = PhysicalWrapper(module, app, trained.norm).eval()
    names = app.output_names()
    per_pixel = {t.name for t in app.targets if t.per_pixel}
    dyn = {"x": {0: "batch"}}
    if per_pixel:
        dyn["x"].update({x.ndim - 2: "height", x.ndim - 1: "width"})
    for name in names:
        base = name[:-4] if name.endswith("_std") and name not in {t.name for t in app.targets} else name
        dyn[name] = {0: "batch", 1: "height", 2: "width"} if base in per_pixel else {0: "batch"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)  # dynamo=False is deliberate (fast, reliable)
            torch.onnx.export(wrapper, (torch.from_numpy(x[:2]),), str(path), input_names=["x"], output_names=names,
                              dynamic_axes=dyn, opset_version=opset, do_constant_folding=True, dynamo=False)
    except Exception as exc:
        raise ModelError(f"torch.onnx.export failed for {app.name}/{config}/{variant}: {exc}") from exc
    model = onnx.load(str(path))
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise ModelError(f"onnx.checker rejected {path.name}: {exc}") from exc
    report = _parity(path, wrapper, x, names, rtol=rtol, atol=atol)
    meta = onnx_metadata(app, config, variant, trained.norm, dynamic_axes=dyn, opset=str(opset),
                         **(extra_metadata or {}))
    write_metadata(path, meta)
    report["path"] = str(path)
    return report


def save_checkpoint(trained: TrainedModel, app, config: str, path: str | Path, *, size: ModelSize = ModelSize.TEACHER) -> None:
    """Save the state_dict and normalisation (``teacher.pt``) for rebuilding with ``app.build_model``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in trained.module.state_dict().items()}
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as fh:
        torch.save({"state_dict": state, "norm": trained.norm, "app": app.name, "config": config,
                    "size": size.value, "format": "edgeinv-checkpoint-1"}, fh)
    Path(fh.name).chmod(0o644)
    Path(fh.name).replace(path)


def load_checkpoint(app, config: str, path: str | Path) -> TrainedModel:
    """Rebuild a :class:`TrainedModel` from :func:`save_checkpoint`'s file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}", hint="run `make models`")
    data = torch.load(str(path), map_location="cpu", weights_only=True)
    if data.get("app") != app.name:
        raise ModelError(f"{path.name} belongs to app {data.get('app')!r}, not {app.name!r}")
    module = app.build_model(config, ModelSize(data.get("size", "teacher")))
    try:
        module.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise ModelError(f"{path.name} does not fit {app.name}'s current {config} model: {exc}") from None
    module.eval()
    return TrainedModel(module=module, norm=data["norm"])
