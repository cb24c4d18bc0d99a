"""bearing-wear's predict options: what a recording may lack (rate, speed, channel) and how to rate it.

One declaration serves the CLI flags' meaning, the machine settings form (ranges) and the validation
of every path (CLI, upload, API, MQTT, batch); see :mod:`edgeinv.common.options`.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeinv.common.options import PredictOptions, option

from .baseline import severity_table
from .io import DEFAULT_MAX_SAMPLES

_TABLE = severity_table()


@dataclass(frozen=True)
class BearingOptions(PredictOptions):
    aliases = {"fs": "fs_hz"}
    fs_hz: float | None = option(reader=True, unit="Hz", low=4000.0, high=1e6, label="Sensor rate (Hz)",
                                 help="sampling rate, when the file does not say it")
    rpm: float | None = option(reader=True, unit="rpm", low=30.0, high=30000.0, label="Nominal speed (rpm)",
                               help="shaft speed (a given value overrides the file's)")
    bearing: str | None = option(kind="text", label="Bearing",
                                 help="bearing preset or 'n=9,d=7.94,D=39.04,angle=0'")
    channel: str | None = option(kind="text", reader=True, setting=False, label="Channel",
                                 help="DE/FE/BA, a .mat variable, a column name or index")
    units: str | None = option(kind="choice", choices=("g", "m/s2"), reader=True, setting=False, label="Units",
                               help="units of the samples (default g)")
    machine_class: str | None = option(_TABLE["default_class"], kind="choice", choices=tuple(_TABLE["classes"]),
                                       label="ISO 10816 class", help="class for the severity zone")
    max_samples: int | None = option(kind="int", low=1, setting=False, reader=True, label="Max samples",
                                     help=f"refuse longer files (default {DEFAULT_MAX_SAMPLES})")

    def observed(self, sample) -> dict:
        """What the recording itself said (after the read): rate, speed, bearing, channel."""
        meta = getattr(sample, "meta", {}) or {}
        from .physics import PRESETS

        geometry = getattr(sample, "geometry", None)
        preset = next((k for k, g in PRESETS.items() if g == geometry), None)  # named as the settings name it
        seen = {"channel": getattr(sample, "channel", None), "bearing": preset or getattr(geometry, "name", None)}
        if meta.get("fs_source") == "file":
            seen["fs_hz"] = float(sample.fs_hz)
        if meta.get("rpm_source") == "file":
            seen["rpm"] = float(sample.rpm)
        return seen
