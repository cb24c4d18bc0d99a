"""Three tiny Apps for the core's tests (not registered as entry points).

* :class:`ToySignalApp` -- 1-D signals (1 x 128): a sinusoid whose frequency class (3 classes) and
  amplitude (``amp_mm``, regression with uncertainty) the 1-D CNN must recover.
* :class:`ToyVectorApp` -- 12-element vectors: an MLP regresses a linear and a quadratic form.
* :class:`ToyImageApp` -- 3-band 16 x 16 images: a fully-convolutional net maps each pixel's band
  contrast to a per-pixel cover fraction.

All three learn in a few seconds on one core. Their networks import torch lazily (in
``build_model``), like the real apps.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from edgeinv.common.app import App, Dataset, ModelSize, Target, TargetKind, TrainRecipe

TINY = TrainRecipe(n_train=384, n_val=96, n_test=128, epochs=25, batch_size=32, lr=1e-2, patience=8,
                   prune_ratio=0.5, finetune_epochs=8, distill_epochs=25, n_calibration=32, seed=0)


@dataclass
class ToySample:
    data: np.ndarray


@dataclass
class ToyResult:
    values: dict

    def to_dict(self) -> dict:
        return {k: np.asarray(v).tolist() for k, v in self.values.items()}

    def summary(self) -> str:
        return ", ".join(f"{k}={np.round(np.mean(v), 3)}" for k, v in self.values.items())


class _ToyBase(App):
    def read(self, source, *, filename=None, **meta):
        return ToySample(np.load(source))

    def preprocess(self, sample, *, config="default"):
        return np.asarray(sample.data, dtype=np.float32)

    def interpret(self, outputs, sample):
        return ToyResult({k: np.asarray(v) for k, v in outputs.items()})

    def recipe(self, config):
        return TINY

    def read_labelled(self, data, labels):
        """``data``: .npz with ``x`` (n, ...); ``labels``: CSV ``index,<target>...[,_group]``."""
        import csv

        x = np.load(data)["x"]
        pairs = []
        with open(labels, newline="") as fh:
            for row in csv.DictReader(fh):
                lab = {k: (v if k == "_group" else float(v)) for k, v in row.items() if k != "index" and v != ""}
                pairs.append((ToySample(x[int(row["index"])]), lab))
        return pairs

    def _dataset(self, x, y):
        return Dataset(x=x.astype(np.float32), y=y, samples=[ToySample(v) for v in x])


class ToySignalApp(_ToyBase):
    name = "toy-signal"
    title = "Toy 1-D signal"
    targets = (Target("fault", kind=TargetKind.CLASSIFICATION, classes=("slow", "mid", "fast")),
               Target("amp_mm", unit="mm", low=0.5, high=2.0, uncertainty=True))
    FREQS = (3.0, 7.0, 13.0)

    def input_shape(self, config):
        return (1, 128)

    def simulate(self, n, *, rng, config="default"):
        cls = rng.integers(0, 3, n)
        amp = rng.uniform(0.5, 2.0, n)
        t = np.arange(128) / 128.0
        phase = rng.uniform(0, 2 * np.pi, n)
        f = np.asarray(self.FREQS)[cls]
        x = amp[:, None] * np.sin(2 * np.pi * f[:, None] * t[None] + phase[:, None])
        x = x + rng.normal(0, 0.1, x.shape)
        return self._dataset(x[:, None, :], {"fault": cls.astype(np.int64), "amp_mm": amp.astype(np.float32)})

    def baseline(self, sample):
        s = np.asarray(sample.data)[0]
        spec = np.abs(np.fft.rfft(s))
        k = int(np.argmax(spec[1:])) + 1
        cls = int(np.argmin(np.abs(np.asarray(self.FREQS) - k)))
        return {"fault": np.eye(3, dtype=np.float32)[cls], "amp_mm": np.float32(np.sqrt(2) * np.std(s))}

    def build_model(self, config, size):
        import torch.nn as nn

        w = 16 if size is ModelSize.TEACHER else 6

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(
                    nn.Conv1d(1, w, 7, stride=2, padding=3), nn.BatchNorm1d(w), nn.ReLU(),
                    nn.Conv1d(w, 2 * w, 5, stride=2, padding=2), nn.BatchNorm1d(2 * w), nn.ReLU(),
                    nn.Conv1d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten())
                self.cls = nn.Linear(2 * w, 3)
                self.reg = nn.Linear(2 * w, 2)

            def forward(self, x):
                h = self.body(x)
                r = self.reg(h)
                return self.cls(h), r[:, 0], r[:, 1]

        return Net()


class ToyVectorApp(_ToyBase):
    name = "toy-vector"
    title = "Toy vector MLP"
    targets = (Target("lin_g", unit="g", low=-10.0, high=10.0), Target("quad_g", unit="g", low=0.0, high=12.0))
    W = np.linspace(-1.0, 1.0, 12)

    def input_shape(self, config):
        return (12,)

    def simulate(self, n, *, rng, config="default"):
        x = rng.normal(0, 1, (n, 12))
        lin = np.clip(2.0 * x @ self.W, -10, 10)
        quad = np.clip(np.sum(x[:, :4] ** 2, axis=1), 0, 12)
        return self._dataset(x, {"lin_g": lin.astype(np.float32), "quad_g": quad.astype(np.float32)})

    def baseline(self, sample):
        x = np.asarray(sample.data)
        return {"lin_g": np.float32(2.0 * x @ self.W)}

    def build_model(self, config, size):
        import torch.nn as nn

        w = 64 if size is ModelSize.TEACHER else 16

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(12, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU())
                self.head = nn.Linear(w, 2)

            def forward(self, x):
                o = self.head(self.body(x))
                return o[:, 0], o[:, 1]

        return Net()


class ToyImageApp(_ToyBase):
    name = "toy-image"
    title = "Toy per-pixel FCN"
    targets = (Target("cover", unit="fraction", low=0.0, high=1.0, per_pixel=True),)

    def input_shape(self, config):
        return (3, 16, 16)

    def simulate(self, n, *, rng, config="default"):
        base = rng.uniform(0, 1, (n, 1, 4, 4))
        cover = np.kron(base, np.ones((1, 1, 4, 4)))[:, 0]
        soil = rng.uniform(0.2, 0.4, (n, 1, 1))
        bands = np.stack([soil + 0.0 * cover, 0.1 + 0.1 * cover, soil * (1 - cover) + 0.6 * cover], axis=1)
        x = bands + rng.normal(0, 0.01, bands.shape)
        return self._dataset(x, {"cover": cover.astype(np.float32)})

    def baseline(self, sample):
        b = np.asarray(sample.data)
        ndvi = (b[2] - b[0]) / (b[2] + b[0] + 1e-6)
        return {"cover": np.clip(ndvi / 0.6, 0, 1).astype(np.float32)}

    def build_model(self, config, size):
        import torch.nn as nn

        w = 16 if size is ModelSize.TEACHER else 6

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.ReLU(),
                                          nn.Conv2d(w, w, 3, padding=1), nn.ReLU())
                self.head = nn.Conv2d(w, 1, 1)

            def forward(self, x):
                return self.head(self.body(x))[:, 0]

        return Net()


SIGNAL, VECTOR, IMAGE = ToySignalApp(), ToyVectorApp(), ToyImageApp()
TOY_APPS = {"signal": SIGNAL, "vector": VECTOR, "image": IMAGE}


def tiny_recipe(**changes) -> TrainRecipe:
    return dataclasses.replace(TINY, **changes)


@functools.lru_cache(maxsize=None)
def data(kind: str):
    """(train, val, test) datasets of one toy app, from fixed seeds (cached per process)."""
    app = TOY_APPS[kind]
    return tuple(app.simulate(n, rng=np.random.default_rng(seed))
                 for n, seed in ((TINY.n_train, 1), (TINY.n_val, 2), (TINY.n_test, 3)))


@functools.lru_cache(maxsize=None)
def teacher(kind: str):
    """A trained teacher of one toy app (cached per process; a few seconds each)."""
    import torch

    from edgeinv.common.train import build_seeded, fit

    torch.set_num_threads(1)
    app = TOY_APPS[kind]
    train, val, _ = data(kind)
    model = build_seeded(app, "default", ModelSize.TEACHER, seed=0)
    return fit(model, train, val, app, recipe=TINY, progress=False)


FAST_SEARCH = dict(warmup=2, rounds=4, per_round=2)


def build_toy_release(root, app=None, **recipe_changes):
    """A real release of a toy app built by the pipeline into ``root/<pkg>`` (tiny recipe, fast search)."""
    from edgeinv.common.compress.search import SearchSettings
    from edgeinv.common.pipeline import build_release

    app = app or VECTOR
    build_release(app, "default", root / app.package_name, recipe=tiny_recipe(**recipe_changes), progress=False,
                  search_settings=SearchSettings(**FAST_SEARCH))
    return root
