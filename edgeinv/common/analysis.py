"""The one analysis call: a file -> read -> predict -> results with the provenance of every parameter.

``edgeinv <app> predict``, the entity flow's upload (HTML and JSON, :mod:`edgeinv.common.web.entities`),
the MQTT ingester and ``<app> batch`` (:mod:`edgeinv.common.ingest.analyse`) all call :func:`analyse`, so
the same file with the same parameters gives the same numbers whichever way it arrives
(``tests/apps/test_conformance.py`` checks CLI, API and HTML upload against each other).

::

    options = app.options_type.build(given, source="flag"|"form"|"message", defaults=entity settings)
    samples = app.read_many(data, filename=..., **options.reader_kwargs())   # + entity values the file lacks
    results = app.predict_many(samples, runner_for, options)                  # App.predict(sample, runner, options)

Nothing is written anywhere: output files (veg-cover's cover GeoTIFF and overlay) are a separate,
explicit step (``App.write_outputs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .errors import MissingMetadataError


@dataclass
class Analysis:
    """What :func:`analyse` returns: the samples read, one Result per sample, the options used."""

    app: Any
    filename: str
    samples: list
    results: list
    options: Any
    parameters: list[dict]

    @property
    def single(self) -> bool:
        return len(self.results) == 1 and not self.app.many_samples_per_file

    def result_dicts(self) -> list[dict]:
        """Each result's ``to_dict()`` with ``parameters``: value and source of every operating parameter."""
        return [{**r.to_dict(), "parameters": p} for r, p in zip(self.results, self.parameters)]

    def to_dict(self) -> dict:
        """One result's dict (single-sample files), else ``{"results": [...], "n_samples"}``."""
        docs = self.result_dicts()
        if self.single:
            return docs[0]
        return {"results": docs, "n_samples": len(docs)}

    def printable(self):
        """What ``predict`` prints: ``summary()`` as text; as JSON one result's dict, or a list for files
        holding several samples (leaves)."""
        return _Printable(self)

    def summary(self) -> str:
        """Human-readable lines for the CLI: each result's summary and the parameters not left at default."""
        parts = []
        for r, p in zip(self.results, self.parameters):
            used = [f"{k}={v['value']} ({v['source']})" for k, v in p.items()
                    if v["source"] not in ("default", "device")]
            model = (p.get("model") or {}).get("value")
            if isinstance(model, dict) and model.get("variant"):
                used.append(f"model {model['config']}/{model['variant']}")
            parts.append(r.summary().rstrip("\n") + (f"\n  parameters: {', '.join(used)}" if used else ""))
        return "\n\n".join(parts)


class _Printable:
    def __init__(self, analysis: Analysis):
        self.analysis = analysis

    def to_dict(self):
        docs = self.analysis.result_dicts()
        return docs[0] if self.analysis.single else docs

    def summary(self) -> str:
        return self.analysis.summary()


def device_runner(app, settings, config: str):
    """The runner an analysis uses unless the user names a model or variant: this device's ``accurate`` and
    ``chosen`` variants (its self-test, :func:`edgeinv.common.runtime.selftest.device_choice`) in a
    :class:`~edgeinv.common.runtime.switch.ModelSwitcher` (accurate when idle, the light one under load);
    the chosen variant alone when they are the same. The web, ``predict``, MQTT and batch all use it, so an
    idle device gives the same numbers whichever way a file arrives; each result names the variant that ran.
    """
    from .runtime.bundle import load_runner
    from .runtime.selftest import device_choice

    choice = device_choice(app, settings, config)  # this device's self-test, not the build machine
    chosen, accurate = choice["chosen"], choice["accurate"]
    light = load_runner(app, settings, config=config, variant=chosen)
    if not accurate or accurate == chosen:
        return light
    from .runtime.switch import ModelSwitcher

    heavy = load_runner(app, settings, config=config, variant=accurate)
    return ModelSwitcher(heavy, light, latency_budget_ms=settings.latency_budget_ms, names=(accurate, chosen))


def _variant(runner) -> str | None:
    """The variant the calling thread's last call of ``runner`` ran (a switcher's choice, or the model's)."""
    name = getattr(runner, "current_variant", None) or getattr(runner, "variant", None)
    return name if isinstance(name, str) else None


def read_samples(app, data, *, filename: str, options) -> tuple[list, Any]:
    """``app.read_many`` with the options; a reader field the file lacks is filled from the entity's value
    (``MissingMetadataError.field``), once per field. Returns ``(samples, options)`` (options as filled)."""
    while True:
        try:
            return app.read_many(data, filename=filename, **options.reader_kwargs()), options
        except MissingMetadataError as exc:
            filled = options.fill(exc.field) if exc.field else None
            if filled is None:
                raise
            options = filled


def analyse(app, data, *, filename: str, runner_for: Callable[[str], Any] | None, given: Mapping | None = None,
            source: str = "flag", defaults: Mapping | None = None, options=None,
            baseline: bool = False) -> Analysis:
    """Read ``data`` (bytes or a path) and run the app's edge path on every sample in it.

    ``given``: parameters the user gave (CLI flags, form fields, API query, MQTT properties; unknown
    keys ignored), ``source`` says which. ``defaults``: the entity's settings (machine, field, flight).
    ``runner_for(config)`` gives the model runner. ``options``: an already built options object instead.
    ``baseline``: the app's classical method instead of the model (``App.predict_baseline``; no runner).
    """
    if options is None:
        options = app.options_type.build(given or {}, source=source, defaults=defaults)
    samples, options = read_samples(app, data, filename=filename, options=options)
    used: dict[str, Any] = {}

    def tracked(config: str):
        used[config] = runner_for(config)
        return used[config]

    try:
        if baseline:
            results = [app.predict_baseline(s, options) for s in samples]
        else:
            results = app.predict_many(samples, tracked, options)
        parameters = [options.provenance(s) for s in samples]
        for p, s in zip(parameters, samples):  # the model is an operating parameter too
            config = app.config_for(s)
            p["model"] = ({"value": "none: the classical baseline method", "source": "flag"} if baseline else
                          {"value": {"config": config, "variant": _variant(used.get(config))}, "source": "device"})
    finally:
        for s in samples:  # streamed images hold an open file
            close = getattr(s, "close", None)
            if callable(close):
                close()
    return Analysis(app=app, filename=filename, samples=samples, results=list(results), options=options,
                    parameters=parameters)
