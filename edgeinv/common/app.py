"""The App contract every vertical app implements, and the registry that finds apps by entry point.

An app is one object (a subclass of :class:`App`) that the core drives the same way for every
vertical: simulate -> train -> compress -> export -> bench -> serve. The core never imports
``edgeinv.apps``; it finds the apps through the ``edgeinv.apps`` entry-point group declared in
pyproject.toml (``name = "package.module:APP"``).

Conventions shared by all apps
------------------------------
* A *sample* is whatever the app's reader returns (an app-specific dataclass holding the raw
  observation and its metadata: a vibration window with ``fs_hz`` and ``rpm``, a spectrum with its
  wavelengths, an image tile with its band names).
* ``preprocess(sample, config=...)`` turns one sample into the model input **without** the batch
  axis (float32, shape ``app.input_shape(config)``; for per-pixel apps the spatial size may vary).
* A model (torch during training, ONNX at the edge) maps a batch ``x`` to one output per entry of
  :meth:`App.output_names`, in that order:

  - regression target ``t``: ``t`` in the target's **physical unit**, shape ``(n,)`` or, for a
    ``per_pixel`` target, ``(n, H, W)``; if ``t.uncertainty`` also ``t_std`` (same shape, same unit,
    one standard deviation of a Gaussian predictive distribution);
  - classification target ``t``: ``t`` holds class **probabilities**, shape ``(n, len(classes))``.

  During training the torch module returns the same tuple, but regression heads are in normalised
  units (z-scores), std heads are log-variances of the normalised target, and classification heads
  are logits; :mod:`edgeinv.common.export` wraps the module so the ONNX graph emits physical units,
  standard deviations and probabilities.
* ``baseline(sample)`` returns outputs in the same dict layout (batch axis removed) for the targets
  the classical method estimates, so one metric code scores models and baselines alike.
* ``interpret(outputs, sample)`` turns the single-sample outputs (batch axis removed) into a
  :class:`Result` the user acts on (alarm, advice, flight plan).
"""

from __future__ import annotations

import enum
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from .errors import ConfigError, NotFoundError
from .options import PredictOptions

ENTRY_POINT_GROUP = "edgeinv.apps"
BROKEN_APPS: dict[str, str] = {}  # entry-point name -> import error, for `edgeinv apps` and /healthz


class TargetKind(enum.Enum):
    REGRESSION = "regression"
    CLASSIFICATION = "classification"


@dataclass(frozen=True)
class Target:
    """One quantity the model estimates.

    Parameters
    ----------
    name : identifier, with the unit in it where it helps (``defect_size_mm``).
    unit : physical unit shown to users (``"mm"``, ``"ug/cm2"``, ``"fraction"``); ``""`` for classes.
    kind : regression or classification.
    low, high : the valid (simulated) range in ``unit``; budgets are expressed as fractions of it.
    classes : class labels for a classification target, in output order.
    per_pixel : True if the target is a map ``(H, W)`` per sample rather than a scalar.
    uncertainty : True if the model also emits ``<name>_std`` (regression only).
    weight : weight of this target's loss in multi-task training.
    """

    name: str
    unit: str = ""
    kind: TargetKind = TargetKind.REGRESSION
    low: float = 0.0
    high: float = 1.0
    classes: tuple[str, ...] = ()
    per_pixel: bool = False
    uncertainty: bool = False
    weight: float = 1.0

    def __post_init__(self):
        if not isinstance(self.kind, TargetKind):
            raise ConfigError(f"Target {self.name}: kind must be a TargetKind, got {self.kind!r}")
        if self.kind is TargetKind.CLASSIFICATION:
            if len(self.classes) < 2:
                raise ConfigError(f"Target {self.name}: a classification target needs >= 2 classes")
            if self.uncertainty:
                raise ConfigError(f"Target {self.name}: uncertainty applies to regression targets only")
        elif not self.high > self.low:
            raise ConfigError(f"Target {self.name}: high must exceed low, got {self.low}..{self.high}")

    @property
    def is_classification(self) -> bool:
        return self.kind is TargetKind.CLASSIFICATION

    @property
    def range(self) -> float:
        return float(self.high - self.low)


class ModelSize(enum.Enum):
    """Which network an app builds: the accurate teacher or the small student for distillation."""

    TEACHER = "teacher"
    STUDENT = "student"


@dataclass
class Dataset:
    """Preprocessed model inputs with ground truth, and (optionally) the raw samples they came from.

    ``x``: float32, shape ``(n, *input_shape)``. ``y[target.name]``: float32 ``(n,)`` / ``(n, H, W)``
    for regression targets (physical units), int64 ``(n,)`` class indices for classification.
    ``samples``: the raw samples (same order), kept so baselines and the full edge path (read ->
    preprocess -> infer -> interpret) can be measured on the very same held-out data.
    ``meta``: per-sample conditions (e.g. SNR, rpm, camera) for error breakdowns; column -> array.
    """

    x: np.ndarray
    y: dict[str, np.ndarray]
    samples: list | None = None
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.x)
        for k, v in self.y.items():
            if len(v) != n:
                raise ValueError(f"Dataset: y[{k!r}] has {len(v)} rows, x has {n}")
        if self.samples is not None and len(self.samples) != n:
            raise ValueError(f"Dataset: {len(self.samples)} samples for {n} rows of x")

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, idx) -> "Dataset":
        idx = np.asarray(idx)
        return Dataset(
            x=self.x[idx],
            y={k: v[idx] for k, v in self.y.items()},
            samples=None if self.samples is None else [self.samples[i] for i in idx],
            meta={k: np.asarray(v)[idx] for k, v in self.meta.items()},
        )

    @staticmethod
    def concat(parts: Sequence["Dataset"]) -> "Dataset":
        parts = list(parts)
        samples = None
        if all(p.samples is not None for p in parts):
            samples = [s for p in parts for s in p.samples]
        meta_keys = set.intersection(*(set(p.meta) for p in parts)) if parts else set()
        return Dataset(
            x=np.concatenate([p.x for p in parts]),
            y={k: np.concatenate([p.y[k] for p in parts]) for k in parts[0].y},
            samples=samples,
            meta={k: np.concatenate([np.asarray(p.meta[k]) for p in parts]) for k in meta_keys},
        )


class Result(Protocol):
    """What ``interpret`` returns: the user-facing estimate. Apps use dataclasses with these methods."""

    def to_dict(self) -> dict: ...  # JSON-serialisable; what ``--json`` and the API return

    def summary(self) -> str: ...  # a few human-readable lines for the CLI


@dataclass(frozen=True)
class Budget:
    """How much error compression may add, in the targets' own terms.

    ``regression_frac_range``: RMSE may grow by at most this fraction of the target's range
    (0.01 = 1 % of ``high - low``). ``classification_points``: accuracy may drop by at most this many
    percentage points. ``per_target`` overrides either for a named target (value in the same terms).
    """

    regression_frac_range: float = 0.01
    classification_points: float = 1.0
    per_target: dict[str, float] = field(default_factory=dict)

    def allowed(self, target: Target) -> float:
        if target.name in self.per_target:
            return float(self.per_target[target.name])
        return self.classification_points if target.is_classification else self.regression_frac_range


@dataclass(frozen=True)
class TrainRecipe:
    """How `make models` trains and compresses one config of an app (the tests use tiny versions)."""

    n_train: int = 4000
    n_val: int = 500
    n_test: int = 1000
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 5
    prune_ratio: float = 0.5
    finetune_epochs: int = 8
    distill_epochs: int = 30
    n_calibration: int = 200
    budget: Budget = field(default_factory=Budget)
    seed: int = 0


class App(ABC):
    """One vertical app. Subclasses set the class attributes and implement the abstract methods."""

    name: str = ""  # CLI and URL name, e.g. "bearing-wear"
    title: str = ""
    description: str = ""
    targets: tuple[Target, ...] = ()
    configs: tuple[str, ...] = ("default",)  # one shipped model family per config (sensor/camera)
    preprocessing_version: str = "1"
    latency_tile_px: int = 256  # per-pixel apps: tile edge the device runs the model on (see latency_input)
    many_samples_per_file: bool = False  # True: a file holds a list of samples (leaves); predict returns a list
    splits_windows: bool = False  # True: predict_windows runs a share of one input's tiles (predict --scheduler)
    example_suffix: str | None = None  # file suffix of write_example's files (".wav", ".csv", ".tif")
    # calibrate: let the user's validation labels choose how far to move from the shipped model (shrinkage)
    calibration_shrink: bool = False

    def calibration_scope(self, pairs: list, config: str) -> tuple[list, dict | None]:
        """The labelled samples that may change ``config``'s model and a report of what was left out and why
        (``calibrate``). Default: all of them, no report. An empty list: nothing the labels can validate --
        the calibrated release is the shipped chosen model, unchanged, and the report says why."""
        return pairs, None
    # bench stages: True when predict does more than preprocess -> model -> interpret (it is then timed whole,
    # split at its model calls)
    stages_from_predict: bool = False

    # ---- identity -----------------------------------------------------------------------
    @property
    def package_name(self) -> str:
        return self.name.replace("-", "_")

    def target(self, name: str) -> Target:
        for t in self.targets:
            if t.name == name:
                return t
        raise NotFoundError(f"{self.name} has no target {name!r}")

    def output_names(self) -> list[str]:
        names = []
        for t in self.targets:
            names.append(t.name)
            if t.uncertainty:
                names.append(f"{t.name}_std")
        return names

    def check_config(self, config: str) -> str:
        if config not in self.configs:
            raise ConfigError(f"{self.name}: config must be one of {', '.join(self.configs)}; got {config!r}")
        return config

    def models_dir(self, settings) -> Path:
        return Path(settings.models_dir) / self.package_name

    # ---- physics and data ----------------------------------------------------------------
    @abstractmethod
    def input_shape(self, config: str) -> tuple[int, ...]:
        """Model input shape without the batch axis (spatial axes may be nominal for FCNs)."""

    @abstractmethod
    def simulate(self, n: int, *, rng: np.random.Generator, config: str = "default") -> Dataset:
        """n physics-simulated samples with ground truth (raw samples kept in ``Dataset.samples``)."""

    @abstractmethod
    def read(self, source: str | Path | bytes, *, filename: str | None = None, **meta) -> Any:
        """Read a real file (path or bytes) into a sample; raise InvalidInputError subclasses."""

    def write_example(self, path: str | Path, rng: np.random.Generator, **params) -> dict | None:
        """Write one realistic simulated example file in the app's own format (``edgeinv <app> simulate``);
        ``params`` come from :meth:`simulate_arguments`. Returns a few facts about it (truth) or None."""
        from .errors import InvalidInputError

        raise InvalidInputError(f"{self.name} cannot write example files")

    def simulate_arguments(self, parser) -> None:
        """Extra ``simulate`` flags (e.g. a fault type); their values reach :meth:`write_example` as params."""

    def write_large_example(self, path: str | Path, *, size: int, rng: np.random.Generator) -> dict:
        """Per-pixel apps: write a ``size`` x ``size`` px raster in the app's input format without holding it
        in memory, for ``edgeinv <app> bench-large`` (:mod:`edgeinv.common.runtime.largebench`). Returns at
        least ``file_mb`` and ``write_seconds``. Default: the app has no large-image bench."""
        from .errors import InvalidInputError

        raise InvalidInputError(f"{self.name} has no large-image bench")

    def read_many(self, source, *, filename: str | None = None, **meta) -> list:
        """Files holding several samples (several leaves, a long recording) return a list; default: one."""
        return [self.read(source, filename=filename, **meta)]

    def read_labelled(self, data: str | Path, labels: str | Path) -> list[tuple[Any, dict]]:
        """A user's labelled real files for ``edgeinv <app> calibrate``: ``[(sample, {target: value})]``.

        ``data`` is a file or folder of the app's inputs, ``labels`` a table naming them. A label dict
        holds the measured targets only (class names or indices for classification targets; a 2-D map
        of the image's size for per-pixel targets, NaN where unknown) and optionally ``"_group"`` (site,
        species, source) for hold-out by group. Default: the app cannot be calibrated.
        """
        from .errors import InvalidInputError

        raise InvalidInputError(f"{self.name} cannot read labelled files for calibration yet")

    def config_for(self, sample) -> str:
        """Which model config serves this sample (e.g. the camera type); default: the first."""
        return self.configs[0]

    # ---- edge side -------------------------------------------------------------------------
    @abstractmethod
    def preprocess(self, sample, *, config: str = "default") -> np.ndarray:
        """One sample -> float32 model input without batch axis. Edge side: numpy/scipy, no torch."""

    @abstractmethod
    def interpret(self, outputs: dict[str, np.ndarray], sample) -> Result:
        """Single-sample model (or baseline) outputs -> the user-facing Result."""

    @abstractmethod
    def baseline(self, sample) -> dict[str, np.ndarray]:
        """The classical method, outputs in the model's layout (batch axis removed)."""

    def evaluate(self, outputs: dict[str, np.ndarray], dataset: Dataset) -> dict:
        """App-specific metrics beyond the generic per-target ones (e.g. per-zone cover error).

        ``outputs`` are batch outputs in physical units for all of ``dataset``. Default: none.
        """
        return {}

    def evaluate_real(self, data_dir: Path, runner_for, *, progress: bool = False) -> dict | None:
        """Score the app on real labelled data found under ``data_dir``; None if the app has no such evaluation.

        ``runner_for(config) -> runner`` gives the runner for a config (the shipped chosen variant, or the
        ``--model``/``--variant`` the user named). Returns a JSON-able dict: ``summary`` (headline metrics),
        ``rows`` (one per file/leaf/image: truth, estimate with its uncertainty, baseline), ``baseline``
        (the classical method's metrics on the same files) and ``text`` (a human-readable table).
        ``edgeinv <app> evaluate-real [--record]`` runs it; ``--record`` stores it in the manifest's ``real``.
        """
        return None

    def after_release(self, models_dir: Path, runner_for, *, progress: bool = True) -> dict | None:
        """Steps that must follow a rebuild of the shipped models (``edgeinv <app> compress``), e.g. fitting
        decision thresholds or a probability temperature to the new model. ``runner_for(config)`` gives the
        new chosen variant's runner. Returns a short report or None. Default: nothing to do."""
        return None

    def latency_input(self, x: np.ndarray) -> np.ndarray:
        """The batch-1 input the device really runs, built from held-out inputs ``x``, for timing variants.

        Default: one sample. Per-pixel apps run the model on tiles bigger than their training crops,
        and variants rank differently there (INT8 can lose at 32 px and win at 512 px), so their
        first sample is repeated spatially to ``latency_tile_px`` square.
        """
        x1 = np.asarray(x[:1])
        if not any(t.per_pixel for t in self.targets) or x1.ndim != 4:
            return x1
        tile = int(self.latency_tile_px)
        reps = (1, 1, -(-tile // x1.shape[2]), -(-tile // x1.shape[3]))
        return np.ascontiguousarray(np.tile(x1, reps)[:, :, :tile, :tile])

    def predict_windows(self, sample, runner, tiles: list) -> list:
        """Apps that stream one large input tile by tile (:attr:`splits_windows`): the outputs of ``tiles``
        only, in order -- a Dask worker's share of ``predict --scheduler`` (:mod:`edgeinv.common.dask_windows`).
        The app's ``predict`` feeds them to its sinks in the calling process. Default: cannot split."""
        raise ConfigError(f"{self.name} cannot split one input across workers")

    #: the app's frozen predict-options dataclass (``apps/<app>/options.py``): every operating parameter a
    #: user may give (CLI flag, form field, API query, MQTT property) with its unit and range
    options_type: type = PredictOptions

    def with_options(self, sample, options=None):
        """The sample with ``options`` applied where ``predict`` reads them (``options.apply``)."""
        return sample if options is None else options.apply(sample)

    def predict(self, sample, runner, options=None) -> Result:
        """Full edge path for one sample: preprocess -> run -> interpret.

        ``runner(x) -> dict[str, np.ndarray]`` runs a batch (see ``edgeinv.common.runtime``); ``options``
        an instance of :attr:`options_type` (None: as read). Apps with large inputs (tiled images, long
        recordings) override this. Callers go through :func:`edgeinv.common.analysis.analyse`, which
        reads the file with the options and records where each parameter came from.
        """
        sample = self.with_options(sample, options)
        x = self.preprocess(sample, config=self.config_for(sample))[None]
        out = runner(x)
        return self.interpret({k: v[0] for k, v in out.items()}, sample)

    def predict_baseline(self, sample, options=None) -> Result:
        """The classical method (:meth:`baseline`) on one sample, interpreted like the model's outputs
        (the result says ``method: baseline``); what ``edgeinv <app> baseline FILE`` shows. Apps whose
        baseline works on the whole input (bearing-wear: every window) override this."""
        sample = self.with_options(sample, options)
        return self.interpret(self.baseline(sample), sample)

    def predict_many(self, samples: list, runner_for, options=None) -> list:
        """``predict`` for every sample of a file; ``runner_for(config)`` gives the runner. Apps whose files
        hold many samples (leaves) may batch them; the results must equal one ``predict`` per sample."""
        return [self.predict(s, runner_for(self.config_for(s)), options) for s in samples]

    def write_outputs(self, result, folder: Path) -> dict[str, str]:
        """Write the result's output files (e.g. a cover GeoTIFF and overlay) into ``folder``; the explicit
        step behind ``predict --out DIR``. Returns ``{name: path}``. Default: the app has none."""
        from .errors import InvalidInputError

        raise InvalidInputError(f"{self.name} writes no output files")

    # ---- training side ----------------------------------------------------------------------
    @abstractmethod
    def build_model(self, config: str, size: ModelSize):
        """A fresh torch.nn.Module (import torch inside this method only)."""

    def recipe(self, config: str) -> TrainRecipe:
        """Training/compression settings used by `make models` for this config."""
        return TrainRecipe()

    # ---- user interfaces ---------------------------------------------------------------------
    def entity_flow(self):
        """The app's hooks for the core entity flow (an :class:`edgeinv.common.web.entities.EntityFlow`: what
        a machine/field/flight is, how a file becomes a stored result, what its pages show), or None."""
        return None

    def blueprint(self, ctx):
        """The app's Flask blueprint (mounted at ``/<name>/``); ``ctx`` is the shared WebContext. Default: the
        core entity flow over :meth:`entity_flow` (None when the app has no UI)."""
        flow = self.entity_flow()
        if flow is None:
            return None
        from .web.entities import entity_blueprint

        return entity_blueprint(self, ctx, flow)

    def add_cli(self, sub) -> None:
        """Add app-specific options/subcommands. ``sub`` is the app's argparse subparsers object.

        The core already provides simulate/train/compress/bench/predict/serve; an app adds options
        to ``predict`` through :meth:`predict_arguments` and may add extra subcommands here
        (each subparser sets ``func=callable(args, ctx) -> dict | Result``).
        """

    def predict_arguments(self, parser) -> None:
        """Extra ``predict`` flags (e.g. ``--fs``, ``--rpm``); those named like a field of :attr:`options_type`
        become the options (source ``flag``); the CLI passes nothing else to ``read``/``predict``."""


# ---- registry -------------------------------------------------------------------------------


def _registry() -> dict[str, Any]:
    """name -> loader (``() -> App``) of every installed app, from the entry points; nothing is imported yet."""
    return {ep.name: ep.load for ep in entry_points(group=ENTRY_POINT_GROUP)}


_LOADED: dict[tuple, App] = {}  # (name, loader) -> App: each app imported once, on first use


def app_names() -> list[str]:
    """The installed apps' CLI names, **without importing the apps**: a process that works for one app (``edgeinv
    veg-cover serve``) imports only that one (issue 13, serving memory: the other apps' imports cost the veg-cover
    server ~18 MB of scipy)."""
    return sorted(_registry())


def _load(name: str, loader) -> App | None:
    if (name, loader) in _LOADED:
        return _LOADED[(name, loader)]
    if name in BROKEN_APPS:  # tried once: its error is in `edgeinv apps` and /healthz
        return None
    try:
        app = loader()
    except Exception as exc:  # noqa: BLE001 - one broken app must not take the others down
        warnings.warn(f"edgeinv: app {name!r} could not be loaded: {exc}", RuntimeWarning, stacklevel=2)
        BROKEN_APPS[name] = str(exc)
        return None
    if not isinstance(app, App):
        raise ConfigError(f"entry point {name} does not point to an App instance")
    _LOADED[(name, loader)] = app
    return app


def all_apps() -> dict[str, App]:
    """name -> App for every installed app (imports them all)."""
    apps = (_load(name, loader) for name, loader in _registry().items())
    return dict(sorted((a.name, a) for a in apps if a is not None))


def get_app(name: str) -> App:
    """Find an app by CLI name (``bearing-wear``) or package name (``bearing_wear``)."""
    key = name.replace("_", "-")
    loaders = _registry()
    app = _load(key, loaders[key]) if key in loaders else None
    if app is None:
        known = [n for n in sorted(loaders) if n not in BROKEN_APPS]
        raise NotFoundError(f"unknown app {name!r}; installed apps: {', '.join(known) or 'none'}")
    return app
