"""Generic supervised training loop for every app's torch model (training side: imports torch).

One loop serves all apps: seeded and deterministic where torch allows, per-target z-score
normalisation, multi-task losses, AdamW with a one-cycle or cosine schedule, gradient clipping,
early stopping on the validation loss with best-weights restore (patience counted only after the
one-cycle warm-up, whose rising learning rate makes the loss noisy), a tqdm bar on stderr, and
knowledge distillation from a teacher (so :mod:`edgeinv.common.compress.distill` and the pruning
fine-tune reuse this loop).

Losses per target (weighted by ``Target.weight``):

* regression: MSE of the z-scored target; with ``uncertainty=True`` the ``<name>_std`` head is the
  log-variance of the z-scored target and the loss is the Gaussian negative log-likelihood,
  weighted by the detached predicted variance to the power ``beta`` (beta-NLL; Seitzer et al. 2022,
  "On the pitfalls of heteroscedastic uncertainty estimation", ICLR; beta=0 is the plain NLL of
  Nix & Weigend 1994) so the mean is not neglected;
* classification: cross-entropy on logits (optionally class-weighted);
* distillation: ``(1 - alpha) * ground-truth loss + alpha * teacher loss``, the teacher loss being
  MSE to the teacher's z-scores / log-variances and the temperature-scaled KL divergence to the
  teacher's class distribution (Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a
  neural network").
"""

from __future__ import annotations

import copy
import enum
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .app import Dataset, ModelSize, TrainRecipe
from .errors import ConfigError, InvalidInputError, ModelError

__all__ = ["Schedule", "TrainedModel", "fit", "target_norm", "canonical_outputs", "build_seeded", "count_params"]

LOGVAR_CLAMP = 12.0


class Schedule(enum.Enum):
    ONECYCLE = "onecycle"
    COSINE = "cosine"


@dataclass
class TrainedModel:
    """A trained torch module plus what is needed to map its outputs to physical units.

    ``norm[target] = {"mean": mu, "std": sigma}`` (physical units) for every regression target.
    """

    module: torch.nn.Module
    norm: dict[str, dict[str, float]]
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("nan")
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def params(self) -> int:
        return count_params(self.module)

    def summary(self) -> dict:
        return {"params": self.params, "best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
                "epochs_run": len(self.history), "stopped_early": self.stopped_early,
                "seconds": round(self.seconds, 2)}


def count_params(module: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def build_seeded(app, config: str, size: ModelSize, *, seed: int) -> torch.nn.Module:
    """``app.build_model(config, size)`` with torch's RNG seeded first (reproducible initialisation)."""
    torch.manual_seed(int(seed))
    return app.build_model(config, size)


def target_norm(app, y: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per-target z-score statistics from the training set (per-pixel targets over all pixels)."""
    norm = {}
    for t in app.targets:
        if t.is_classification:
            continue
        v = np.asarray(y[t.name], dtype=np.float64)
        mu, sd = float(np.mean(v)), float(np.std(v))
        norm[t.name] = {"mean": mu, "std": max(sd, 1e-6 * t.range, 1e-12)}
    return norm


def canonical_outputs(outputs, app, n: int) -> list[torch.Tensor]:
    """Model outputs -> list in ``app.output_names()`` order with the contract's shapes.

    Accepts a tuple/list, a dict keyed by output name, or a single tensor; squeezes a singleton
    channel axis (``(n, 1)`` -> ``(n,)``, ``(n, 1, H, W)`` -> ``(n, H, W)``).
    """
    names = app.output_names()
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs,)
    if isinstance(outputs, dict):
        missing = [k for k in names if k not in outputs]
        if missing:
            raise ModelError(f"{app.name}: model output dict lacks {missing}")
        outputs = [outputs[k] for k in names]
    outputs = list(outputs)
    if len(outputs) != len(names):
        raise ModelError(f"{app.name}: model returns {len(outputs)} outputs, expected {len(names)} ({names})")
    kinds = {}
    for t in app.targets:
        kinds[t.name] = t
        if t.uncertainty:
            kinds[f"{t.name}_std"] = t
    result = []
    tracing = torch.jit.is_tracing()
    for name, out in zip(names, outputs):
        t = kinds[name]
        if tracing:  # shapes were checked in training; keep the exported graph free of constants
            if not t.is_classification and out.ndim in (2, 4) and out.shape[1] == 1:
                out = out[:, 0]
            result.append(out)
            continue
        if t.is_classification:
            if out.ndim != 2 or out.shape[1] != len(t.classes):
                raise ModelError(f"{app.name}: output {name} must be (n, {len(t.classes)}), got {tuple(out.shape)}")
        elif t.per_pixel:
            if out.ndim == 4 and out.shape[1] == 1:
                out = out[:, 0]
            if out.ndim != 3:
                raise ModelError(f"{app.name}: per-pixel output {name} must be (n, H, W), got {tuple(out.shape)}")
        else:
            if out.ndim == 2 and out.shape[1] == 1:
                out = out[:, 0]
            if out.ndim != 1:
                raise ModelError(f"{app.name}: output {name} must be (n,), got {tuple(out.shape)}")
        if out.shape[0] != n:
            raise ModelError(f"{app.name}: output {name} has batch {out.shape[0]}, input had {n}")
        result.append(out)
    return result


def _tensors(ds: Dataset, app, norm) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    if not np.all(np.isfinite(ds.x)):
        raise InvalidInputError("training inputs hold NaN or infinite values")
    x = torch.from_numpy(np.ascontiguousarray(ds.x, dtype=np.float32))
    ys = {}
    for t in app.targets:
        if t.name not in ds.y:
            raise InvalidInputError(f"dataset lacks ground truth for target {t.name!r}")
        v = np.asarray(ds.y[t.name])
        if t.is_classification:
            ys[t.name] = torch.from_numpy(v.astype(np.int64))
        else:
            if not np.all(np.isfinite(v)):
                raise InvalidInputError(f"ground truth {t.name} holds NaN or infinite values")
            z = (v.astype(np.float64) - norm[t.name]["mean"]) / norm[t.name]["std"]
            ys[t.name] = torch.from_numpy(z.astype(np.float32))
    return x, ys


def _class_weights(app, train: Dataset, class_weights) -> dict[str, torch.Tensor]:
    out = {}
    if class_weights is None:
        return out
    for t in app.targets:
        if not t.is_classification:
            continue
        w = class_weights if isinstance(class_weights, str) else class_weights.get(t.name)
        if w is None:
            continue
        if isinstance(w, str):
            if w != "balanced":
                raise ConfigError(f"class_weights must be 'balanced' or per-class weights, got {w!r}")
            counts = np.bincount(np.asarray(train.y[t.name], dtype=np.int64), minlength=len(t.classes))
            w = len(train) / (len(t.classes) * np.maximum(counts, 1))
        w = np.asarray(w, dtype=np.float32)
        if w.shape != (len(t.classes),):
            raise ConfigError(f"class_weights[{t.name}] needs {len(t.classes)} values, got {w.shape}")
        out[t.name] = torch.from_numpy(w)
    return out


def _losses(outs, ys, app, cw, beta) -> dict[str, torch.Tensor]:
    """Ground-truth loss per target (outs in output_names order, ys z-scored / class indices)."""
    names = app.output_names()
    by_name = dict(zip(names, outs))
    losses = {}
    for t in app.targets:
        pred, y = by_name[t.name], ys[t.name]
        if t.is_classification:
            losses[t.name] = F.cross_entropy(pred, y, weight=cw.get(t.name))
        elif t.uncertainty:
            logvar = by_name[f"{t.name}_std"].clamp(-LOGVAR_CLAMP, LOGVAR_CLAMP)
            nll = 0.5 * (logvar + (y - pred) ** 2 * torch.exp(-logvar))
            if beta:
                nll = nll * torch.exp(logvar).detach() ** beta
            losses[t.name] = nll.mean()
        else:
            losses[t.name] = F.mse_loss(pred, y)
    return losses


def _distill_losses(outs, touts, app, temperature) -> dict[str, torch.Tensor]:
    names = app.output_names()
    s, te = dict(zip(names, outs)), dict(zip(names, touts))
    losses = {}
    for t in app.targets:
        if t.is_classification:
            T = temperature
            losses[t.name] = F.kl_div(F.log_softmax(s[t.name] / T, dim=1), F.softmax(te[t.name] / T, dim=1),
                                      reduction="batchmean") * T * T
        else:
            loss = F.mse_loss(s[t.name], te[t.name])
            if t.uncertainty:
                k = f"{t.name}_std"
                loss = loss + 0.25 * F.mse_loss(s[k].clamp(-LOGVAR_CLAMP, LOGVAR_CLAMP),
                                                te[k].clamp(-LOGVAR_CLAMP, LOGVAR_CLAMP))
            losses[t.name] = loss
    return losses


def _weighted(app, losses: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(t.weight * losses[t.name] for t in app.targets)


@torch.no_grad()
def _forward_all(module, x: torch.Tensor, app, *, batch_size: int = 256) -> list[torch.Tensor]:
    module.eval()
    parts = [canonical_outputs(module(x[i:i + batch_size]), app, len(x[i:i + batch_size]))
             for i in range(0, len(x), batch_size)]
    return [torch.cat([p[j] for p in parts]) for j in range(len(parts[0]))]


def fit(model: torch.nn.Module, train: Dataset, val: Dataset, app, *, recipe: TrainRecipe,
        progress: bool = True, teacher: TrainedModel | None = None, norm: dict | None = None,
        epochs: int | None = None, lr: float | None = None, schedule: Schedule = Schedule.ONECYCLE,
        class_weights=None, alpha: float = 0.5, temperature: float = 2.0, beta: float = 0.5,
        grad_clip: float = 1.0, desc: str = "train") -> TrainedModel:
    """Train ``model`` on ``train`` with early stopping on ``val``; return the best weights.

    Parameters
    ----------
    model : torch module returning one output per ``app.output_names()`` (training conventions).
    train, val : datasets with physical-unit ground truth.
    recipe : epochs, batch_size, lr, weight_decay, patience, seed are used.
    teacher : if given, distil from it (its ``norm`` is reused so the z-scores agree).
    norm : fixed normalisation (e.g. fine-tuning a pruned copy); default computed from ``train``.
    epochs, lr : override the recipe's values (fine-tuning / distillation phases).
    class_weights : ``"balanced"`` or ``{target: [w per class]}`` for the cross-entropy.
    alpha, temperature : distillation mix and softmax temperature.
    beta : beta-NLL exponent for targets with uncertainty (0 = plain Gaussian NLL).
    """
    epochs = int(recipe.epochs if epochs is None else epochs)
    lr = float(recipe.lr if lr is None else lr)
    if epochs < 1 or recipe.batch_size < 1 or lr <= 0:
        raise ConfigError(f"epochs, batch_size and lr must be positive (got {epochs}, {recipe.batch_size}, {lr})")
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha}")
    if len(train) < 2 or len(val) < 1:
        raise InvalidInputError(f"need >= 2 training and >= 1 validation samples, got {len(train)}/{len(val)}")
    if not isinstance(schedule, Schedule):
        raise ConfigError(f"schedule must be one of {[s.value for s in Schedule]}, got {schedule!r}")
    if teacher is not None:
        norm = teacher.norm
    norm = norm or target_norm(app, train.y)
    t0 = time.perf_counter()
    was_det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        torch.manual_seed(int(recipe.seed))
        gen = torch.Generator().manual_seed(int(recipe.seed))
        xtr, ytr = _tensors(train, app, norm)
        xva, yva = _tensors(val, app, norm)
        cw = _class_weights(app, train, class_weights)
        tout = _forward_all(teacher.module, xtr, app) if teacher is not None else None
        bs = min(int(recipe.batch_size), len(train))
        steps = max(1, len(train) // bs)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=float(recipe.weight_decay))
        warm = 0
        # OneCycle needs >= 2 steps in each phase (torch divides by the phase length minus one).
        if schedule is Schedule.ONECYCLE and epochs * steps >= 12:
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.25)
            warm = int(np.ceil(0.25 * epochs))
        else:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps, eta_min=lr * 0.01)
        best = (float("inf"), 0, copy.deepcopy(model.state_dict()))
        history: list[dict] = []
        stale, stopped = 0, False
        from tqdm.auto import tqdm

        bar = tqdm(range(epochs), desc=f"{app.name} {desc}", file=sys.stderr, disable=not progress, leave=False)
        for epoch in bar:
            model.train()
            perm = torch.randperm(len(train), generator=gen)
            total = 0.0
            for s in range(steps):
                idx = perm[s * bs:(s + 1) * bs]
                outs = canonical_outputs(model(xtr[idx]), app, len(idx))
                loss = _weighted(app, _losses(outs, {k: v[idx] for k, v in ytr.items()}, app, cw, beta))
                if tout is not None:
                    kd = _weighted(app, _distill_losses(outs, [o[idx] for o in tout], app, temperature))
                    loss = (1.0 - alpha) * loss + alpha * kd
                if not torch.isfinite(loss):
                    raise ModelError(f"{app.name}: training diverged (loss {loss.item()}) at epoch {epoch + 1}",
                                     hint="lower the learning rate")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                opt.step()
                sched.step()
                total += float(loss.item())
            vouts = _forward_all(model, xva, app)
            vl = _losses(vouts, yva, app, cw, beta=0.0)
            val_loss = float(_weighted(app, vl).item())
            history.append({"epoch": epoch + 1, "train_loss": total / steps, "val_loss": val_loss,
                            "lr": float(opt.param_groups[0]["lr"]), **{f"val_{k}": float(v) for k, v in vl.items()}})
            bar.set_postfix(train=f"{total / steps:.4f}", val=f"{val_loss:.4f}")
            if val_loss < best[0] - 1e-6:
                best, stale = (val_loss, epoch + 1, copy.deepcopy(model.state_dict())), 0
            elif epoch + 1 > warm:  # no early stop while the one-cycle LR is still rising
                stale += 1
                if stale >= recipe.patience:
                    stopped = True
                    break
        bar.close()
        model.load_state_dict(best[2])
        model.eval()
    finally:
        torch.use_deterministic_algorithms(was_det)
    return TrainedModel(module=model, norm=norm, history=history, best_epoch=best[1], best_val_loss=best[0],
                        stopped_early=stopped, seconds=time.perf_counter() - t0)
