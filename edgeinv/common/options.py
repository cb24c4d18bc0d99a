"""Predict options: one frozen dataclass per app, validated, and where every value came from.

Every analysis — ``edgeinv <app> predict``, an upload in the UI or API, an MQTT message, ``<app> batch``
— goes through :func:`edgeinv.common.analysis.analyse` with an instance of the app's
``App.options_type`` (a subclass of :class:`PredictOptions` in ``apps/<app>/options.py``). Each field is
declared with :func:`option` (unit, physical range, choices, help) so that one declaration gives the CLI
flag's help, the validation message (``rpm must be between 30 and 30000 rpm, got 5``) and the UI's
input ranges.

Two kinds of fields:

* **reader** fields (``reader=True``: sampling rate, shaft speed, band order ...) describe the file;
  the file may carry them. A value given by the user wins; an entity's stored value (the machine's
  nominal speed) is used only when the reader says the file lacks it
  (:class:`~edgeinv.common.errors.MissingMetadataError` with ``field``);
* **analysis** fields (ISO class, zone size, nitrogen-to-protein factor ...) are given, else the
  entity's setting, else the app's default.

:meth:`PredictOptions.provenance` says for every field its value and source: ``flag`` (CLI), ``form``
(web upload or API), ``message`` (MQTT), ``entity default``, ``file`` or ``default``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from .errors import ConfigError

SOURCES = ("flag", "form", "message", "entity default", "file", "default")
_KINDS = ("number", "int", "text", "choice", "bool")


def option(default=None, *, kind: str = "number", help: str = "", unit: str = "", low: float | None = None,
           high: float | None = None, low_exclusive: bool = False, choices: tuple = (), reader: bool = False,
           setting: bool = True, label: str = "", labels: tuple = (), required: bool = False):
    """A field of a :class:`PredictOptions` dataclass.

    ``kind``: number, int, text, choice (one of ``choices``) or bool. ``low``/``high``: the physical
    range (inclusive; ``low_exclusive`` for ``> low``). ``reader``: describes the file (see the module
    docstring). ``setting``: may be stored as an entity's default (shown on its settings form).
    """
    if kind not in _KINDS:
        raise ConfigError(f"option kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    return field(default=default, metadata={"kind": kind, "help": help, "unit": unit, "low": low, "high": high,
                                            "low_exclusive": low_exclusive, "choices": tuple(choices),
                                            "reader": reader, "setting": setting, "label": label,
                                            "labels": tuple(labels), "required": required})


@dataclass(frozen=True)
class OptionSpec:
    """One option as the UI, the CLI and ``/api/schema`` see it."""

    name: str
    kind: str
    default: Any
    help: str = ""
    unit: str = ""
    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    choices: tuple = ()
    reader: bool = False
    setting: bool = True
    label: str = ""
    labels: tuple = ()
    required: bool = False

    def choice_pairs(self) -> list[tuple[str, str]]:
        """``[(value, label)]`` of the choices (the value itself where no label is given)."""
        return [(c, self.labels[i] if i < len(self.labels) else c) for i, c in enumerate(self.choices)]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def rule(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.kind == "choice":
            return f"one of {', '.join(map(str, self.choices))}"
        if self.low is not None and self.high is not None:
            if self.low_exclusive:
                return f"> {self.low:g} and <= {self.high:g}{unit}"
            return f"between {self.low:g} and {self.high:g}{unit}"
        if self.low is not None:
            return f"{'>' if self.low_exclusive else '>='} {self.low:g}{unit}"
        if self.high is not None:
            return f"<= {self.high:g}{unit}"
        return "a number" if self.kind in ("number", "int") else "text"

    def convert(self, raw):
        """``raw`` (a string from a form or an MQTT property, or a JSON value) checked against the spec."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            if str(raw).strip().lower() in ("1", "true", "yes", "on"):
                return True
            if str(raw).strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{self.name} must be true or false, got {raw!r}")
        if self.kind in ("number", "int"):
            if isinstance(raw, bool) or isinstance(raw, (list, dict)):
                raise ConfigError(f"{self.name} must be a number, got {raw!r}")
            try:
                v = float(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"{self.name} must be a number, got {raw!r}") from None
            if self.kind == "int":
                if not (math.isfinite(v) and v == int(v)):
                    raise ConfigError(f"{self.name} must be a whole number, got {raw!r}")
                v = int(v)
            too_low = self.low is not None and (v <= self.low if self.low_exclusive else v < self.low)
            too_high = self.high is not None and v > self.high
            if not math.isfinite(v) or too_low or too_high:
                raise ConfigError(f"{self.name} must be {self.rule()}, got {raw!r}")
            return v
        if isinstance(raw, (list, dict)):
            raise ConfigError(f"{self.name} must be a single value, got {type(raw).__name__}")
        text = str(raw).strip()
        if self.kind == "choice" and text not in self.choices:
            raise ConfigError(f"{self.name} must be {self.rule()}, got {raw!r}")
        return text


@dataclass(frozen=True)
class PredictOptions:
    """Base of the per-app options dataclasses (no fields of its own besides the bookkeeping)."""

    _sources: dict = field(default_factory=dict, compare=False, repr=False)
    _fallback: dict = field(default_factory=dict, compare=False, repr=False)
    #: where the caller explicitly asked for output files (``predict --out`` only; never a form or API field):
    #: an app may stream them there while it predicts an input too large to keep in memory
    _outputs: str | None = field(default=None, compare=False, repr=False)

    #: other names a value may arrive under (``fs`` for ``fs_hz``: the CLI flag, MQTT properties)
    aliases: ClassVar[dict] = {}

    def __post_init__(self):
        for spec in self.specs():
            object.__setattr__(self, spec.name, spec.convert(getattr(self, spec.name)) if getattr(
                self, spec.name) is not None else spec.default)

    # ---- declaration -------------------------------------------------------------------------
    @classmethod
    def specs(cls) -> list[OptionSpec]:
        out = []
        for f in dataclasses.fields(cls):
            if f.name.startswith("_"):
                continue
            m = f.metadata
            out.append(OptionSpec(name=f.name, kind=m.get("kind", "text"), default=f.default, help=m.get("help", ""),
                                  unit=m.get("unit", ""), low=m.get("low"), high=m.get("high"),
                                  low_exclusive=m.get("low_exclusive", False), choices=m.get("choices", ()),
                                  reader=m.get("reader", False), setting=m.get("setting", True),
                                  label=m.get("label", "") or f.name.replace("_", " "), labels=m.get("labels", ()),
                                  required=m.get("required", False)))
        return out

    @classmethod
    def spec(cls, name: str) -> OptionSpec:
        for s in cls.specs():
            if s.name == name:
                return s
        raise ConfigError(f"unknown option {name!r}; options are {', '.join(s.name for s in cls.specs())}")

    @classmethod
    def names(cls) -> list[str]:
        return [s.name for s in cls.specs()]

    # ---- building ------------------------------------------------------------------------------
    @classmethod
    def build(cls, given: Mapping | None = None, *, source: str = "flag", defaults: Mapping | None = None):
        """Options from what the user gave (``source``: flag, form or message) and an entity's settings.

        Unknown keys in ``given`` and ``defaults`` are ignored (a form carries other fields too). Values
        are converted and checked; a bad one raises ConfigError naming the option, its range and value.
        """
        if source not in SOURCES:
            raise ConfigError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        values, sources, fallback = {}, {}, {}
        given = cls.canonical(given or {})
        for spec in cls.specs():
            raw = given.get(spec.name)
            v = spec.convert(raw)
            if v is not None:
                values[spec.name], sources[spec.name] = v, source
                continue
            d = spec.convert((defaults or {}).get(spec.name))
            if d is None:
                continue
            if spec.reader:
                fallback[spec.name] = d  # only when the file lacks it
            else:
                values[spec.name], sources[spec.name] = d, "entity default"
        return cls(**values, _sources=sources, _fallback=fallback)

    @classmethod
    def canonical(cls, values: Mapping) -> dict:
        """``values`` with aliases (``fs``) renamed to the option names (``fs_hz``) and ``-`` as ``_``."""
        out = {}
        for k, v in values.items():
            key = str(k).replace("-", "_")
            out[cls.aliases.get(key, key)] = v
        return out

    def fill(self, name: str):
        """A copy with the entity's value of reader field ``name`` (the file lacks it); None if there is none."""
        if name not in self._fallback or getattr(self, name, None) is not None:
            return None
        fallback = {k: v for k, v in self._fallback.items() if k != name}
        return dataclasses.replace(self, **{name: self._fallback[name]},
                                   _sources={**self._sources, name: "entity default"}, _fallback=fallback)

    # ---- use ---------------------------------------------------------------------------------
    def values(self) -> dict:
        """Every option with a value (None dropped)."""
        return {s.name: getattr(self, s.name) for s in self.specs() if getattr(self, s.name) is not None}

    def reader_kwargs(self) -> dict:
        """The values ``App.read``/``read_many`` takes (every option with a value; readers ignore the rest)."""
        return self.values()

    def apply(self, sample):
        """Put the analysis options where the app's ``predict`` reads them; returns the sample. Default: as read."""
        return sample

    def observed(self, sample) -> dict:
        """Reader fields as the file gave them (for provenance ``file``); apps override. Default: none."""
        return {}

    def provenance(self, sample=None) -> dict:
        """``{option: {"value", "source"}}`` for every option: given, entity default, file or default."""
        seen = self.observed(sample) if sample is not None else {}
        out = {}
        for spec in self.specs():
            v = getattr(self, spec.name)
            src = self._sources.get(spec.name)
            if src is None and spec.name in seen and seen[spec.name] is not None:
                v, src = seen[spec.name], "file"
            out[spec.name] = {"value": v, "source": src or "default"}
        return out
