"""Structured pruning that really removes channels and neurons, then fine-tuning (training side).

Uses torch-pruning's dependency graph (Fang et al. 2023, "DepGraph: Towards any structural
pruning", CVPR) so coupled layers -- a conv and its BatchNorm, residual adds, concatenations,
depthwise convs -- shrink together and the result is a smaller dense network (smaller tensors and
fewer FLOPs in the exported ONNX graph, not masks). Channel importance is the L2 norm of each
group's weights (magnitude pruning, Li et al. 2017, "Pruning filters for efficient ConvNets").
The layers that produce the model outputs are found by walking the autograd graph back from the
outputs and are never pruned, so every head keeps its size; the first layer's input channels
cannot be pruned by construction. Fine-tuning reuses :func:`edgeinv.common.train.fit`, by default
distilling from the unpruned model as well as fitting the ground truth.
"""

from __future__ import annotations

import copy

import torch

from ..app import Dataset, TrainRecipe
from ..errors import ConfigError, ModelError
from ..train import Schedule, TrainedModel, count_params, fit

__all__ = ["output_layers", "prune_module", "prune_and_finetune"]

_STOP = (torch.nn.Linear, torch.nn.modules.conv._ConvNd)


def _flatten(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    return [t for o in out for t in _flatten(o)]


def output_layers(model: torch.nn.Module, example: torch.Tensor) -> list[torch.nn.Module]:
    """The parameterised layers that produce the model outputs (heads), found via autograd.

    Walks back from each output through parameter-free ops and normalisation layers to the first
    Conv/Linear on each path; those (and the norm layers passed on the way) must keep their
    output channels.
    """
    fn2mod: dict = {}

    def hook(mod, inp, out):
        for t in _flatten(out) if not isinstance(out, torch.Tensor) else [out]:
            if t.grad_fn is not None:
                fn2mod[t.grad_fn] = mod

    leaves = [m for m in model.modules() if not list(m.children()) and any(True for _ in m.parameters(recurse=False))]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        was_training = model.training
        model.eval()
        with torch.enable_grad():
            outs = _flatten(model(example))
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    heads, seen, stack = [], set(), [o.grad_fn for o in outs]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        mod = fn2mod.get(fn)
        if mod is not None:
            if all(mod is not h for h in heads):
                heads.append(mod)
            if isinstance(mod, _STOP):
                continue
        stack.extend(nxt for nxt, _ in fn.next_functions)
    if not any(isinstance(h, _STOP) for h in heads):
        raise ModelError("pruning: could not find the layers producing the model outputs")
    return heads


def prune_module(module: torch.nn.Module, example_x: torch.Tensor, *, ratio: float,
                 round_to: int | None = None) -> tuple[torch.nn.Module, dict]:
    """A structurally pruned copy of ``module`` (``ratio`` of each prunable layer's channels removed)."""
    import torch_pruning as tp

    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"prune ratio must be in (0, 1), got {ratio!r}")
    model = copy.deepcopy(module).eval()
    heads = output_layers(model, example_x)
    before = count_params(model)
    importance = tp.importance.GroupMagnitudeImportance(p=2) if hasattr(tp.importance, "GroupMagnitudeImportance") \
        else tp.importance.MagnitudeImportance(p=2)
    pruner = tp.pruner.MagnitudePruner(model, example_x, importance=importance, pruning_ratio=float(ratio),
                                       ignored_layers=heads, round_to=round_to)
    pruner.step()
    after = count_params(model)
    if after >= before:
        raise ModelError(f"pruning removed nothing (params {before} -> {after})")
    with torch.no_grad():
        _flatten(model(example_x))  # the pruned network must still run
    return model, {"params_before": before, "params_after": after, "ratio": float(ratio),
                   "heads_kept": [type(h).__name__ for h in heads]}


def prune_and_finetune(trained: TrainedModel, app, train: Dataset, val: Dataset, *, recipe: TrainRecipe,
                       ratio: float | None = None, progress: bool = True, distill: bool = True) -> tuple[TrainedModel, dict]:
    """Prune ``trained`` structurally, fine-tune ``recipe.finetune_epochs`` epochs; return model + report."""
    ratio = recipe.prune_ratio if ratio is None else ratio
    example = torch.from_numpy(train.x[: min(4, len(train))].astype("float32"))
    pruned, report = prune_module(trained.module, example, ratio=ratio)
    epochs = max(1, int(recipe.finetune_epochs))
    tuned = fit(pruned, train, val, app, recipe=recipe, progress=progress, norm=trained.norm, epochs=epochs,
                lr=recipe.lr * 0.5, schedule=Schedule.COSINE, teacher=trained if distill else None,
                alpha=0.5, desc="prune fine-tune")
    report.update(finetune=tuned.summary())
    return tuned, report
