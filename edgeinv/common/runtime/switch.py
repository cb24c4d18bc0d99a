"""Switch between an accurate and a light model by load: accurate when idle, light under pressure.

Edge side. :class:`ModelSwitcher` is itself a runner (``switcher(x) -> dict``). It keeps an
exponentially weighted moving average (EWMA) of the accurate model's observed latency and counts
the calls in flight; it runs the light model when that EWMA exceeds the latency budget or more
than ``max_queue`` calls are already running, and the accurate one otherwise. While the accurate
model is over budget it is re-tried every ``probe_every`` calls so that the switcher returns to it
when the device is idle again. Thread-safe (one lock around the bookkeeping; inference runs
outside the lock).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from ..errors import ConfigError

__all__ = ["ModelSwitcher"]


class ModelSwitcher:
    """Runner that picks ``accurate`` or ``light`` per call.

    Parameters
    ----------
    accurate, light : runners (``runner(x) -> dict``), e.g. two :class:`OnnxModel`.
    latency_budget_ms : above this EWMA latency of the accurate model, use the light one.
    max_queue : with more than this many calls in flight (including this one), use the light one.
    alpha : EWMA weight of the newest observation.
    probe_every : while over budget, run the accurate model every n-th call to re-measure it.
    names : how :attr:`last_variant` names the two models; default: the runners' ``variant``
        attribute (e.g. ``teacher_fp32``/``student_int8``), else ``("accurate", "light")``.
    clock : time source in seconds (tests inject a fake one).
    """

    def __init__(self, accurate: Callable, light: Callable, *, latency_budget_ms: float, max_queue: int = 2,
                 alpha: float = 0.2, probe_every: int = 20, names: tuple[str, str] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        if not float(latency_budget_ms) > 0:
            raise ConfigError(f"latency_budget_ms must be > 0, got {latency_budget_ms!r}")
        if int(max_queue) < 1:
            raise ConfigError(f"max_queue must be >= 1, got {max_queue!r}")
        if not 0 < float(alpha) <= 1:
            raise ConfigError(f"alpha must be in (0, 1], got {alpha!r}")
        self.accurate, self.light = accurate, light
        self.latency_budget_ms = float(latency_budget_ms)
        self.max_queue = int(max_queue)
        self.alpha = float(alpha)
        self.probe_every = max(1, int(probe_every))
        if names is None:
            names = (getattr(accurate, "variant", "accurate"), getattr(light, "variant", "light"))
            if names[0] == names[1]:
                names = ("accurate", "light")
        self.names = tuple(names)
        self._clock = clock
        self._lock = threading.Lock()
        self._local = threading.local()
        self.in_flight = 0
        self.ewma_ms: dict[str, float | None] = {self.names[0]: None, self.names[1]: None}
        self.counts = {self.names[0]: 0, self.names[1]: 0}
        self.reasons: dict[str, int] = {}
        self._since_accurate = 0
        self.last_variant: str | None = None

    # the metadata of the accurate model describes both (same app, targets, outputs)
    @property
    def metadata(self) -> dict:
        return getattr(self.accurate, "metadata", {})

    @property
    def output_names(self):
        return getattr(self.accurate, "output_names", None)

    @property
    def current_variant(self) -> str | None:
        """The model the calling thread's last call used."""
        return getattr(self._local, "variant", None)

    def _choose(self) -> tuple[str, str]:
        acc, light = self.names
        if self.accurate is self.light:
            return acc, "single model"
        if self.in_flight > self.max_queue:
            return light, "queue"
        ewma = self.ewma_ms[acc]
        if ewma is not None and ewma > self.latency_budget_ms:
            if self._since_accurate + 1 >= self.probe_every:
                return acc, "probe"
            return light, "latency"
        return acc, "idle"

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        with self._lock:
            self.in_flight += 1
            name, reason = self._choose()
            self._since_accurate = 0 if name == self.names[0] else self._since_accurate + 1
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
        runner = self.accurate if name == self.names[0] else self.light
        t0 = self._clock()
        try:
            out = runner(x)
        finally:
            dt_ms = (self._clock() - t0) * 1e3
            with self._lock:
                self.in_flight -= 1
                prev = self.ewma_ms[name]
                self.ewma_ms[name] = dt_ms if prev is None else (1 - self.alpha) * prev + self.alpha * dt_ms
                self.counts[name] += 1
                self.last_variant = name
        self._local.variant = name
        return out

    def stats(self) -> dict:
        """Calls per model, EWMA latency per model (ms), why each call went where it did."""
        with self._lock:
            return {"counts": dict(self.counts), "ewma_ms": dict(self.ewma_ms), "reasons": dict(self.reasons),
                    "in_flight": self.in_flight, "latency_budget_ms": self.latency_budget_ms,
                    "max_queue": self.max_queue}
