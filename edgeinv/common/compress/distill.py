"""Knowledge distillation: train the app's small student from the teacher plus ground truth.

Training side. The student is ``app.build_model(config, ModelSize.STUDENT)``; the loss mixes the
ground-truth multi-task loss with matching the teacher's outputs (z-scores, log-variances and
temperature-softened class distributions; Hinton, Vinyals & Dean 2015, "Distilling the knowledge
in a neural network", arXiv:1503.02531). The loop itself is :func:`edgeinv.common.train.fit`.
"""

from __future__ import annotations

from ..app import Dataset, ModelSize, TrainRecipe
from ..errors import ModelError
from ..train import TrainedModel, build_seeded, fit

__all__ = ["distill"]


def distill(teacher: TrainedModel, app, config: str, train: Dataset, val: Dataset, *, recipe: TrainRecipe,
            alpha: float = 0.5, temperature: float = 2.0, progress: bool = True) -> tuple[TrainedModel, dict]:
    """Train a fresh student against ``teacher``; return it and a small report.

    Raises ModelError if the app's student is not smaller than its teacher.
    """
    student = build_seeded(app, config, ModelSize.STUDENT, seed=recipe.seed + 1)
    n_student = sum(p.numel() for p in student.parameters())
    if n_student >= teacher.params:
        raise ModelError(f"{app.name}/{config}: the student ({n_student} params) is not smaller than the teacher "
                         f"({teacher.params})")
    trained = fit(student, train, val, app, recipe=recipe, progress=progress, teacher=teacher,
                  epochs=max(1, int(recipe.distill_epochs)), alpha=alpha, temperature=temperature,
                  desc="distill")
    return trained, {"params_teacher": teacher.params, "params_student": trained.params, "alpha": alpha,
                     "temperature": temperature, "train": trained.summary()}
