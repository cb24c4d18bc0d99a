"""bearing-wear: accelerometer recording -> bearing defect location, defect size (mm) and a wear alarm.

The app object the core drives (``APP``). Edge side only at import time: torch is imported lazily
by :meth:`BearingWearApp.build_model`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgeinv.common.app import App, Dataset, ModelSize, Target, TargetKind, TrainRecipe, Budget

import dataclasses
from typing import TYPE_CHECKING

from . import baseline as _baseline
from . import decision as _decision
from . import features as _features
from . import ood as _ood
from . import severity as _severity
from .interpret import BearingResult, combine, recording_indicators
from .options import BearingOptions
from .io import DEFAULT_MAX_SAMPLES, Recording, read_recording, write_recording
from .physics import FAULTS, PRESETS, get_geometry
if TYPE_CHECKING:
    from .simulate import Conditions
# the simulator (scipy.signal -> scipy.stats, ~50 MB resident) is imported by the methods that simulate only:
# every serving process loads every app, and the edge path never simulates

__all__ = ["APP", "BearingWearApp", "BearingResult", "Recording"]


class BearingWearApp(App):
    name = "bearing-wear"
    title = "Bearing wear: defect location, size and alarm from vibration"
    description = ("Envelope analysis on the shaft-order axis + a small 1-D CNN: fault location (outer race, "
                   "inner race, ball, cage, none), spall size in mm with a 90 % interval, ISO 10816 zone and alarm.")
    targets = (
        Target("fault", kind=TargetKind.CLASSIFICATION, classes=FAULTS, weight=1.0),
        Target("defect_size_mm", unit="mm", low=0.0, high=3.0, uncertainty=True, weight=0.5),
    )
    configs = ("default",)
    preprocessing_version = _features.PREPROCESSING_VERSION
    example_suffix = ".csv"
    options_type = BearingOptions
    stages_from_predict = True  # bench stages: predict also refines the speed, runs every window, OOD and severity

    # ---- physics and data ------------------------------------------------------------------
    def input_shape(self, config: str) -> tuple[int, ...]:
        self.check_config(config)
        return _features.INPUT_SHAPE

    def simulate_recording(self, conditions: Conditions, *, rng: np.random.Generator, duration_s: float | None = None) -> Recording:
        """One simulated recording (one analysis window unless ``duration_s``), truth attached."""
        from .simulate import simulate_vibration

        n = _features.window_length(fs_hz=conditions.fs_hz, rpm=conditions.reported_rpm)
        duration = n / conditions.fs_hz if duration_s is None else float(duration_s)
        x = simulate_vibration(conditions=conditions, duration_s=duration, rng=rng)
        return Recording(x, conditions.fs_hz, conditions.reported_rpm, conditions.geometry, source="simulated",
                         channel="sim", truth=conditions.to_dict())

    def simulate(self, n: int, *, rng: np.random.Generator, config: str = "default") -> Dataset:
        """``n`` one-window recordings; samples are :class:`SimulatedRecording` (regenerated from a seed)."""
        from .simulate import SimulatedRecording, draw_conditions

        self.check_config(config)
        samples, xs = [], []
        for _ in range(int(n)):
            cond = draw_conditions(rng=rng)
            n_win = _features.window_length(fs_hz=cond.fs_hz, rpm=cond.reported_rpm)
            rec = SimulatedRecording(cond, seed=int(rng.integers(2**63)), duration_s=n_win / cond.fs_hz)
            xs.append(self.preprocess(rec, config=config))
            rec.release()
            samples.append(rec)
        truth = [s.truth for s in samples]
        y = {"fault": np.array([FAULTS.index(t["fault"]) for t in truth], dtype=np.int64),
             "defect_size_mm": np.array([t["defect_size_mm"] for t in truth], dtype=np.float32)}
        meta = {k: np.array([t[k] for t in truth], dtype=np.float64) for k in ("snr_db", "rpm", "fs_hz")}
        meta["preset"] = np.array([t["geometry"]["name"] in {g.name for g in PRESETS.values()} for t in truth])
        x = np.stack(xs) if xs else np.zeros((0, *_features.INPUT_SHAPE), np.float32)
        return Dataset(x=x, y=y, samples=samples, meta=meta)

    def read(self, source, *, filename: str | None = None, fs_hz: float | None = None, rpm: float | None = None,
             bearing=None, channel=None, units: str = "g", machine_class: str | None = None,
             max_samples: int | None = None, **_ignored) -> Recording:
        rec = read_recording(source, filename=filename, fs_hz=fs_hz, rpm=rpm, bearing=bearing, channel=channel,
                             units=units, max_samples=int(max_samples or DEFAULT_MAX_SAMPLES))
        if machine_class is not None:
            _baseline.severity_zone(velocity_rms_mm_s=0.0, machine_class=machine_class)  # validates the name
            rec.meta["machine_class"] = machine_class
        return rec

    def read_labelled(self, data, labels) -> list:
        """Labelled recordings for the core calibration path: one sample per analysis window (see :mod:`.commission`)."""
        from .commission import read_labelled

        return read_labelled(self, data, labels)

    # ---- edge side -------------------------------------------------------------------------
    def preprocess(self, sample: Recording, *, config: str = "default") -> np.ndarray:
        """Model input of the sample's first window (``predict`` handles every window)."""
        s, e = _features.split_windows(len(sample.signal), fs_hz=sample.fs_hz, rpm=sample.rpm, max_windows=1)[0]
        return _features.analyse_window(sample.signal[s:e], fs_hz=sample.fs_hz, rpm=sample.rpm,
                                        geometry=sample.geometry).x

    def analyse(self, sample: Recording, *, max_windows: int = 64) -> list:
        """WindowAnalysis of every window of a recording."""
        spans = _features.split_windows(len(sample.signal), fs_hz=sample.fs_hz, rpm=sample.rpm, max_windows=max_windows)
        return [_features.analyse_window(sample.signal[s:e], fs_hz=sample.fs_hz, rpm=sample.rpm, geometry=sample.geometry)
                for s, e in spans]

    def _envelope_plot(self, sample: Recording, analyses) -> dict:
        spec = [_baseline.order_spectrum(a.env_freqs_hz, a.env_spec, shaft_hz=sample.rpm / 60.0) for a in analyses]
        spec = spec[0] if len(spec) == 1 else np.mean(spec, axis=0)  # the mean of one is itself (issue 13)
        i = 0 if len(analyses) == 1 else int(np.argmax([a.band.sk for a in analyses]))
        band = analyses[i].band
        return {"order": list(_ORDER_LIST), "amplitude": spec.tolist(), "shaft_hz": sample.rpm / 60.0,
                "band_hz": [band.f_lo_hz, band.f_hi_hz]}

    def interpret(self, outputs: dict[str, np.ndarray], sample: Recording) -> BearingResult:
        method = "model" if "defect_size_mm" in outputs else "baseline"
        return combine([outputs], sample, velocity_rms_mm_s=_baseline.recording_velocity_rms(sample),
                       machine_class=sample.meta.get("machine_class"), method=method)

    def refine_speed(self, sample):
        """The sample with its speed refined from the spectrum's 1x line (within 2.5 % of the given one), if clear."""
        rpm, how = _features.refine_rpm(sample.signal, fs_hz=sample.fs_hz, rpm=sample.rpm)
        if how != "1x line" or not isinstance(sample, Recording):
            return sample, {"rpm_given": float(sample.rpm), "rpm_refined": float(sample.rpm), "rpm_source": "as given"}
        out = dataclasses.replace(sample, rpm=rpm, meta={**sample.meta, "rpm_given": sample.rpm})
        try:
            _features.split_windows(len(out.signal), fs_hz=out.fs_hz, rpm=out.rpm)
        except Exception:  # refined speed a hair lower makes the window longer than a minimal file
            return sample, {"rpm_given": float(sample.rpm), "rpm_refined": float(sample.rpm), "rpm_source": "as given"}
        return out, {"rpm_given": float(sample.rpm), "rpm_refined": round(rpm, 2), "rpm_source": "1x line"}

    def predict(self, sample: Recording, runner, options=None) -> BearingResult:
        """Whole-file edge path: speed check -> every window -> one batch through ``runner`` -> evidence gate -> result."""
        prepared = self.prepare(sample, options)
        return self.finish(prepared, runner(prepared.x))

    def prepare(self, sample: Recording, options=None) -> "Prepared":
        """What ``predict`` computes before the model: the refined speed and every window's analysis and input."""
        sample = self.with_options(sample, options)
        sample, speed = self.refine_speed(sample)
        analyses = self.analyse(sample)
        x = analyses[0].x[None] if len(analyses) == 1 else np.stack([a.x for a in analyses])  # one: a view (issue 13)
        return Prepared(sample, speed, analyses, x)

    def finish(self, prepared: "Prepared", out: dict) -> BearingResult:
        """The result of one recording from the model's outputs on ``prepared.x``; the recording's checks (evidence,
        OOD, speed/fs check, severity inputs) are computed once per :class:`Prepared`, so several variants' outputs
        on the same recording cost one model call each (``evaluate-real`` scores every shipped variant this way)."""
        p = prepared
        out = {k: np.asarray(v) for k, v in out.items()}
        per_window = [{k: v[i] for k, v in out.items()} for i in range(len(p.analyses))]
        velocity = math.sqrt(_mean([a.velocity_rms_mm_s**2 for a in p.analyses]))  # ISO RMS over the windows
        if p.checks is None:
            p.checks = _decision_inputs(p.sample, p.analyses, p.x, speed_source=p.speed.get("rpm_source"))
            p.envelope = self._envelope_plot(p.sample, p.analyses)
        return combine(per_window, p.sample, velocity_rms_mm_s=velocity,
                       machine_class=p.sample.meta.get("machine_class"), envelope=p.envelope,
                       checks=p.checks, speed=p.speed, indicators=p.checks.get("indicators"))

    def predict_baseline(self, sample: Recording, options=None) -> BearingResult:
        """The classical method on the whole file, as a :class:`BearingResult` (speed as given, no gate)."""
        sample = self.with_options(sample, options)
        analyses = self.analyse(sample, max_windows=_baseline.MAX_BASELINE_WINDOWS)
        result = combine([self.baseline(sample)], sample, velocity_rms_mm_s=_baseline.recording_velocity_rms(sample),
                         machine_class=sample.meta.get("machine_class"), method="baseline",
                         envelope=self._envelope_plot(sample, analyses),
                         checks=_decision_inputs(sample, analyses, None))
        result.windows["n"] = len(analyses)
        return result

    def baseline(self, sample: Recording) -> dict[str, np.ndarray]:
        return _baseline.baseline_outputs(sample)

    def after_release(self, models_dir: Path, runner_for, *, progress: bool = True) -> dict | None:
        """A rebuilt model needs the variant chosen on call stability too (``edgeinv bearing-wear robust-choice``)
        and its decision constants refitted (evidence gate, OOD statistics, probability temperature:
        ``edgeinv bearing-wear calibrate-decision``), or they go stale."""
        from . import calibrate, robust

        doc = calibrate.run(self, runner_for("default"), progress=progress)
        path = calibrate.write(doc)  # the gate first: the call stability is measured through the whole decision
        rob = robust.run(self, models_dir, write=True, progress=progress)
        if rob["chosen"] != rob["core_choice"]:  # the temperature belongs to the shipped variant
            doc.update(calibrate.model_constants(self, robust.runner(models_dir, rob["chosen"])))
            path = calibrate.write(doc)
        return {"decision_calibration": str(path), "temperature": doc.get("temperature"), "gate_db": doc.get("gate_db"),
                "robust_choice": rob["chosen"], "less_robust": rob["less_robust"],
                "text": f"variant chosen on call stability too: {rob['chosen']}; "
                        f"decision constants refitted ({path.name}: gate {doc.get('gate_db')} dB, "
                        f"temperature {doc.get('temperature')})"}

    def evaluate_real(self, data_dir: Path, runner_for, *, progress: bool = False) -> dict | None:
        """Per-file calls, sizes, severity and evidence on real labelled recordings, with the envelope baseline;
        the totals of every shipped variant too (``variants``: the device's self-test may serve any of them)."""
        from .realeval import evaluate, shipped_runners

        main, runners = shipped_runners(runner_for, "default")
        out = evaluate(self, Path(data_dir), runners[main], progress=progress, variants=runners, main=main)
        return {**out, "config": "default"}

    def evaluate(self, outputs: dict[str, np.ndarray], dataset: Dataset) -> dict:
        """Size error on spalls only, interval coverage, and fault accuracy by SNR band."""
        y_f, y_s = dataset.y["fault"], dataset.y["defect_size_mm"]
        extra: dict = {}
        pred_f = np.argmax(outputs["fault"], axis=1)
        if "defect_size_mm" in outputs:
            spall = np.isin(y_f, [FAULTS.index(f) for f in ("outer_race", "inner_race", "ball")])
            if spall.any():
                err = outputs["defect_size_mm"][spall] - y_s[spall]
                extra["spall_size_rmse_mm"] = float(np.sqrt(np.mean(err**2)))
                extra["spall_size_mae_mm"] = float(np.mean(np.abs(err)))
                if "defect_size_mm_std" in outputs:
                    half = 1.6448536 * outputs["defect_size_mm_std"][spall]
                    extra["spall_interval90_coverage"] = float(np.mean(np.abs(err) <= half))
        if "snr_db" in dataset.meta:
            snr = np.asarray(dataset.meta["snr_db"])
            for lo in (-20, -12, -4, 4):
                m = (snr >= lo) & (snr < lo + 8 if lo < 4 else snr < 100)
                if m.any():
                    extra[f"fault_accuracy_snr_{lo}_{lo + 8}db"] = float(np.mean(pred_f[m] == y_f[m]))
        return extra

    # ---- training side ------------------------------------------------------------------------
    def build_model(self, config: str, size: ModelSize):
        self.check_config(config)
        from .model import build

        return build(size.value)

    def recipe(self, config: str) -> TrainRecipe:
        return TrainRecipe(n_train=8000, n_val=1000, n_test=1000, epochs=30, batch_size=64, lr=3e-3, patience=8,
                           prune_ratio=0.4, finetune_epochs=6, distill_epochs=25, n_calibration=200,
                           budget=Budget(regression_frac_range=0.02, classification_points=1.0), seed=0)

    # ---- user interfaces ------------------------------------------------------------------------
    def predict_arguments(self, parser) -> None:
        parser.add_argument("--fs", dest="fs_hz", type=float, help="sampling rate in Hz (when the file lacks it)")
        parser.add_argument("--rpm", type=float, help="shaft speed in rpm (overrides the file's)")
        parser.add_argument("--bearing", help=f"bearing preset ({', '.join(PRESETS)}) or 'n=9,d=7.94,D=39.04,angle=0'")
        parser.add_argument("--channel", help="channel: DE/FE/BA or a variable name (.mat), a column name or index")
        parser.add_argument("--units", choices=("g", "m/s2"), help="units of the samples (default g)")
        parser.add_argument("--machine-class", dest="machine_class",
                            help=f"ISO 10816 class for the severity zone (default {_baseline.severity_table()['default_class']})")
        parser.add_argument("--max-samples", dest="max_samples", type=int, help=f"refuse longer files (default {DEFAULT_MAX_SAMPLES})")

    def simulate_arguments(self, group) -> None:
        group.add_argument("--fault", choices=FAULTS, help="fault to simulate (default: random)")
        group.add_argument("--size-mm", type=float, help="spall length in mm (outer/inner/ball faults)")
        group.add_argument("--rpm", type=float, help="shaft speed (default: random 600-3600)")
        group.add_argument("--fs", type=float, help="sampling rate in Hz (default: random 12-48 kHz)")
        group.add_argument("--duration", type=float, help="seconds (default 10)")
        group.add_argument("--bearing", help=f"preset ({', '.join(PRESETS)}) or custom geometry")
        group.add_argument("--snr-db", type=float, help="SNR of a 1 mm fault's component (default: random)")

    def write_example(self, path, rng: np.random.Generator, *, fault=None, size_mm=None, rpm=None, fs=None,
                      duration=None, bearing=None, snr_db=None) -> dict:
        """Write a realistic simulated recording (WAV, CSV, .npy/.npz or CWRU-layout .mat by suffix)."""
        from .simulate import draw_conditions

        geometry = get_geometry(bearing or "6205-2rs")
        cond = draw_conditions(rng=rng, fault=fault, defect_size_mm=size_mm, rpm=rpm, fs_hz=fs, geometry=geometry,
                               snr_db=snr_db if snr_db is not None else float(rng.uniform(-6.0, 6.0)), rpm_error_frac=0.0)
        rec = self.simulate_recording(cond, rng=rng, duration_s=10.0 if duration is None else duration)
        preset = next((k for k, g in PRESETS.items() if g == geometry), None)
        fmt = write_recording(Path(path), rec.signal, fs_hz=cond.fs_hz, rpm=cond.rpm,
                              bearing=preset or _custom_spec(geometry))
        return {"format": fmt, "fault": cond.fault, "defect_size_mm": cond.defect_size_mm, "rpm": round(cond.rpm, 1),
                "fs_hz": cond.fs_hz, "snr_db": round(cond.snr_db, 1), "bearing": geometry.name}

    def add_cli(self, sub) -> None:
        from .cli import add_cli

        add_cli(self, sub)

    def entity_flow(self):
        from .web import MachineFlow

        return MachineFlow(self)


@dataclasses.dataclass
class Prepared:
    """One recording up to the model (:meth:`BearingWearApp.prepare`); ``checks``/``envelope`` filled by ``finish``."""

    sample: Recording
    speed: dict
    analyses: list
    x: np.ndarray
    checks: dict | None = None
    envelope: dict | None = None


def _decision_inputs(sample, analyses, x, *, speed_source: str | None = None) -> dict:
    """Evidence, OOD assessment (:mod:`.ood`), size resolvability and the autocorrelation profile the severity
    index reads (:mod:`.severity`) of a recording's analysed windows (see :mod:`.decision`)."""
    ringdown = _median([a.ringdown_s for a in analyses])
    whole = len(analyses) == 1 and len(sample.signal) == _features.window_length(fs_hz=sample.fs_hz, rpm=sample.rpm)
    if whole:  # a recording that is exactly one window: its whole-recording indicators are the window's (issue 13)
        indicators = recording_indicators(analyses[0].indicators)
    elif x is not None:
        indicators = recording_indicators(_features.time_indicators(sample.signal)) if len(sample.signal) else {}
    else:
        indicators = None
    return {
        "evidence": _decision.line_evidence(analyses, geometry=sample.geometry),
        "ood": _ood.assess(x, [a.checks for a in analyses], speed_source=speed_source, rpm=sample.rpm,
                           geometry=sample.geometry) if x is not None else None,
        "acf": _severity.acf_profile(analyses),
        "resolvability": _decision.size_resolvability(
            geometry=sample.geometry, rpm=sample.rpm, fs_hz=sample.fs_hz, ringdown_s=ringdown,
            scale_known=bool(getattr(sample, "meta", {}).get("geometry_scale_known", True))),
        "usable_top_hz": _median([a.usable_top_hz for a in analyses]),
        "indicators": indicators,
    }


def _mean(values: list) -> float:
    """``float(np.mean(values))``; one value is its own mean (issue 13)."""
    return float(values[0]) if len(values) == 1 else float(np.mean(values))


def _median(values: list) -> float:
    """``float(np.median(values))``; one value is its own median (no array round trip, issue 13)."""
    return float(values[0]) if len(values) == 1 else float(np.median(values))


def _custom_spec(g) -> str:
    return f"custom:n={g.n_elements}/d={g.element_diameter_mm}/D={g.pitch_diameter_mm}/angle={g.contact_angle_deg}"


_ORDER_LIST = tuple(_features.ORDER_AXIS.tolist())  # the envelope plot's order axis (a fresh list per result)

APP = BearingWearApp()
