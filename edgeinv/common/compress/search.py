"""Accuracy-aware variant search: measure every variant, keep the Pareto front, pick within budget.

Edge-side maths (onnxruntime + numpy). Each candidate (FP32 teacher, INT8, FP16, pruned, student...)
is scored per target on the same held-out set (:func:`edgeinv.common.metrics.score`) and timed at
batch 1 on this CPU with one thread, after warm-up, all variants **interleaved** in the same run
(round-robin in a shuffled order per round, so load from other processes hits them alike); the
median is compared. The budget (:class:`edgeinv.common.app.Budget`) is in the targets' own terms:
RMSE may grow by at most ``regression_frac_range`` x (high - low), accuracy may drop by at most
``classification_points``. The chosen variant is within budget for every target **and** at least
``min_speedup`` times faster than the FP32 reference as measured here; if none qualifies, the
reference itself is shipped. The report says for every variant why it was (not) chosen.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InvalidInputError
from ..metrics import error_value, latency_percentiles, predict_batched, score

__all__ = ["Prefer", "SearchSettings", "VariantMeasure", "measure_latency", "measure_variants",
           "pareto_front", "select_variant"]


class Prefer(enum.Enum):
    LATENCY = "latency"  # the fastest eligible variant (ties: smallest)
    SIZE = "size"  # the smallest eligible variant (ties: fastest)


@dataclass(frozen=True)
class SearchSettings:
    """How the search decides.

    reference : the FP32 variant budgets and speed-ups are relative to.
    prefer : what "best" means among the eligible variants.
    min_speedup : a variant must run at least this many times faster (median, batch 1) than the
        reference to count as faster; 1.05 keeps measurement noise from choosing a tie.
    warmup, rounds, per_round : latency measurement (calls per variant: warmup + rounds x per_round).
    """

    reference: str = "teacher_fp32"
    prefer: Prefer = Prefer.LATENCY
    min_speedup: float = 1.05
    warmup: int = 10
    rounds: int = 30
    per_round: int = 5
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.prefer, Prefer):
            raise ConfigError(f"SearchSettings.prefer must be one of {[p.value for p in Prefer]}, got {self.prefer!r}")
        if not self.min_speedup >= 1.0:
            raise ConfigError(f"SearchSettings.min_speedup must be >= 1, got {self.min_speedup!r}")
        if self.rounds < 1 or self.per_round < 1 or self.warmup < 0:
            raise ConfigError("SearchSettings: rounds and per_round must be >= 1 and warmup >= 0")


@dataclass
class VariantMeasure:
    """What the search knows about one variant (latencies in ms, size in bytes)."""

    name: str
    metrics: dict
    latency_ms: dict  # {"p50", "p95", "p99", "n"}
    size_bytes: int = 0
    params: int = 0
    flops: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def p50(self) -> float:
        return float(self.latency_ms["p50"])


def measure_latency(runners: dict, x1: np.ndarray, *, warmup: int = 10, rounds: int = 30, per_round: int = 5,
                    seed: int = 0) -> dict[str, dict]:
    """Batch-1 latency (ms) of several runners, interleaved round-robin; percentiles per runner."""
    if x1.ndim < 2 or len(x1) != 1:
        raise InvalidInputError(f"latency input must be one sample with a batch axis, got {x1.shape}")
    names = list(runners)
    for name in names:
        for _ in range(warmup):
            runners[name](x1)
    rng = np.random.default_rng(seed)
    samples = {n: [] for n in names}
    clock = time.perf_counter
    for _ in range(rounds):
        for i in rng.permutation(len(names)):
            run = runners[names[i]]
            for _ in range(per_round):
                t0 = clock()
                run(x1)
                samples[names[i]].append((clock() - t0) * 1e3)
    return {n: latency_percentiles(v) for n, v in samples.items()}


def measure_variants(app, paths: dict[str, str | Path], heldout, *, settings: SearchSettings = SearchSettings(),
                     batch_size: int = 64, threads: int = 1) -> dict[str, VariantMeasure]:
    """Score every ONNX variant on ``heldout`` and time them interleaved (see :func:`measure_latency`)."""
    from ..runtime.graphstats import graph_stats
    from ..runtime.session import OnnxModel

    runners = {n: OnnxModel(p, threads=threads) for n, p in paths.items()}
    measures = {}
    for name, runner in runners.items():
        out = predict_batched(runner, heldout.x, batch_size=batch_size)
        stats = graph_stats(paths[name])
        extra = app.evaluate(out, heldout) or {}
        measures[name] = VariantMeasure(name=name, metrics=score(app, out, heldout.y), latency_ms={},
                                        size_bytes=Path(paths[name]).stat().st_size, params=stats["params"],
                                        flops=stats["flops"], extra=extra)
    lat = measure_latency(runners, app.latency_input(heldout.x), warmup=settings.warmup, rounds=settings.rounds,
                          per_round=settings.per_round, seed=settings.seed)
    for name, m in measures.items():
        m.latency_ms = lat[name]
    return measures


def _objectives(app, m: VariantMeasure) -> tuple:
    errs = []
    for t in app.targets:
        met = m.metrics.get(t.name)
        errs.append(error_value(t, met) if met else math.inf)
    return (float(m.size_bytes), m.p50, *[e if np.isfinite(e) else math.inf for e in errs])


def pareto_front(app, measures: dict[str, VariantMeasure]) -> list[str]:
    """Variants not dominated in (size, median latency, error per target); all minimised."""
    objs = {n: _objectives(app, m) for n, m in measures.items()}
    front = []
    for n, a in objs.items():
        dominated = any(all(bj <= aj for aj, bj in zip(a, b)) and any(bj < aj for aj, bj in zip(a, b))
                        for o, b in objs.items() if o != n)
        if not dominated:
            front.append(n)
    return front


def _budget_check(app, budget, m: VariantMeasure, ref: VariantMeasure) -> tuple[bool, dict]:
    ok, detail = True, {}
    for t in app.targets:
        allowed = budget.allowed(t)
        if t.is_classification:
            unit, allowed_abs = "accuracy points", float(allowed)
        else:
            unit, allowed_abs = t.unit, float(allowed) * t.range
        mv, mr = m.metrics.get(t.name), ref.metrics.get(t.name)
        if not mv or not mr:
            ok = False
            detail[t.name] = {"delta": None, "allowed": allowed_abs, "unit": unit, "ok": False}
            continue
        delta = error_value(t, mv) - error_value(t, mr)
        good = bool(np.isfinite(delta) and delta <= allowed_abs + 1e-12)
        ok &= good
        detail[t.name] = {"delta": float(delta), "allowed": allowed_abs, "unit": unit, "ok": good}
    return ok, detail


def select_variant(app, measures: dict[str, VariantMeasure], budget, *,
                   settings: SearchSettings = SearchSettings()) -> dict:
    """Pick the variant to ship from measured variants (pure; deterministic given the measures).

    Returns ``{"chosen", "reference", "pareto", "budget", "settings", "variants": {name: {...,
    "reasons": [...]}}}``.
    """
    ref_name = settings.reference
    if ref_name not in measures:
        raise ConfigError(f"search: reference variant {ref_name!r} was not measured; have {sorted(measures)}")
    ref = measures[ref_name]
    front = set(pareto_front(app, measures))
    rows, eligible = {}, []
    for name, m in measures.items():
        within, detail = _budget_check(app, budget, m, ref)
        speedup = ref.p50 / m.p50 if m.p50 > 0 else math.inf
        faster = speedup >= settings.min_speedup
        reasons = []
        if name == ref_name:
            reasons.append("reference (FP32 teacher)")
        else:
            for tname, d in detail.items():
                if not d["ok"]:
                    what = "missing" if d["delta"] is None else f"+{d['delta']:.4g} {d['unit']}"
                    reasons.append(f"{tname}: error {what} exceeds the budget {d['allowed']:.4g} {d['unit']}")
            if not faster:
                reasons.append(f"not faster than {ref_name} on this CPU (speed-up {speedup:.2f}x "
                               f"< {settings.min_speedup:.2f}x)")
            if within and faster:
                eligible.append(name)
        rows[name] = {"within_budget": within, "faster": faster if name != ref_name else False,
                      "speedup": float(speedup), "on_pareto": name in front, "errors": detail,
                      "latency_ms": m.latency_ms, "size_bytes": m.size_bytes, "params": m.params,
                      "flops": m.flops, "reasons": reasons, "chosen": False}
    if settings.prefer is Prefer.LATENCY:
        key = lambda n: (measures[n].p50, measures[n].size_bytes, n)  # noqa: E731
    else:
        key = lambda n: (measures[n].size_bytes, measures[n].p50, n)  # noqa: E731
    if eligible:
        chosen = min(eligible, key=key)
        rows[chosen]["reasons"].append(f"chosen: within budget, {rows[chosen]['speedup']:.2f}x faster than "
                                       f"{ref_name}, best by {settings.prefer.value} among {len(eligible)} eligible")
        for n in eligible:
            if n != chosen:
                rows[n]["reasons"].append(f"eligible, but {chosen} is better by {settings.prefer.value}")
    else:
        chosen = ref_name
        rows[chosen]["reasons"].append("chosen: no compressed variant is both within budget and faster")
    rows[chosen]["chosen"] = True
    return {"chosen": chosen, "reference": ref_name, "pareto": sorted(front, key=lambda n: measures[n].p50),
            "budget": asdict(budget), "settings": {**asdict(settings), "prefer": settings.prefer.value},
            "variants": rows}
