"""Variant choice on robustness too (issue 10): ship the variant whose calls hold under small perturbations.

The core's search (:mod:`edgeinv.common.compress.search`) picks the fastest variant within the
accuracy budget on simulated held-out windows. For a technician the other failure matters as much: a
call that flips when the typed speed is off by 0.3 % or when the same machine is recorded again. Here
every candidate (the core's eligible variants and the FP32 reference) makes the **whole-file
decision** (:meth:`BearingWearApp.predict`: speed refined from the 1x line, evidence gate, ...) on
simulated recordings (two analysis windows each, conditions drawn as in training, seeds never used
in training) and on three perturbed copies of each:

* the speed given ``-0.3 %`` and ``+0.3 %`` off (:data:`SPEED_FACTORS`),
* the same machine and fault recorded again: the same conditions with another noise / impact-jitter
  seed;
* optionally (``retrained``, ``robust-choice --retrained DIR``) the **retraining seed**: the same
  variant of a second release built with another training seed (``edgeinv bearing-wear compress
  --seed 1 --out DIR``) calls the unperturbed recording. The variants of one release share one
  teacher, so this is the only way to compare seed robustness per variant; it costs a second release
  and is not part of ``make models``.

A recording's call is *stable* when all three perturbed calls equal the unperturbed one. A variant is
**less robust** than the most stable one when, over the recordings where exactly one of the two is
stable, the difference is more than twice its standard error (a paired sign test,
``d > 2 sqrt(b + c)``, and at least 3 recordings). Less robust variants are marked out of budget in
the manifest's search record (so a device's self-test does not switch to them for speed either), and
the shipped choice is the core's choice if it is among the robust ones, else the fastest robust one.
The preprocessing and the decision inputs are computed once per recording and shared by all variants.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import features as F
from .io import Recording
from .simulate import SimulatedRecording, draw_conditions

SPEED_FACTORS = (0.997, 1.003)
SEED = 515151
N_DEFAULT = 200


def _as_recording(sim: SimulatedRecording, rpm_factor: float = 1.0) -> Recording:
    """A plain :class:`Recording` (so the speed is refined from the 1x line as for a real file)."""
    return Recording(np.asarray(sim.signal, dtype=np.float32), sim.fs_hz, sim.rpm * rpm_factor, sim.geometry,
                     source="simulated", channel="sim", truth=sim.truth)


def _prepared(app, rec: Recording):
    """Everything of the edge path that does not depend on the model: (sample, speed, analyses, x, checks)."""
    from .app import _decision_inputs

    sample, speed = app.refine_speed(rec)
    analyses = app.analyse(sample)
    x = np.stack([a.x for a in analyses])
    return sample, speed, analyses, x, _decision_inputs(sample, analyses, x)


def _call(prep, runner) -> str:
    from .interpret import combine

    sample, speed, analyses, x, checks = prep
    out = runner(x)
    per_window = [{k: np.asarray(v)[i] for k, v in out.items()} for i in range(len(analyses))]
    return combine(per_window, sample, velocity_rms_mm_s=0.0, checks=checks, speed=speed).fault


def call_stability(app, runners: dict, *, n: int = N_DEFAULT, seed: int = SEED, progress: bool = False,
                   retrained: dict | None = None) -> dict:
    """Per variant: the nominal calls' accuracy and the fraction of recordings whose call holds under all perturbations
    (with ``retrained`` {variant: runner of another training seed's release}: that variant's call too, and the
    fraction of recordings on which the two seeds agree)."""
    rng = np.random.default_rng(seed)
    stable = {name: [] for name in runners}
    right = {name: [] for name in runners}
    agree = {name: [] for name in (retrained or {})}
    it = range(n)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"{app.name} call stability", unit="rec")
    for _ in it:
        cond = draw_conditions(rng=rng)
        w = F.window_length(fs_hz=cond.fs_hz, rpm=cond.reported_rpm * min(SPEED_FACTORS))
        dur = 2.05 * w / cond.fs_hz
        sims = [SimulatedRecording(cond, seed=int(rng.integers(2**63)), duration_s=dur) for _ in range(2)]
        preps = [_prepared(app, _as_recording(sims[0]))]
        preps += [_prepared(app, _as_recording(sims[0], f)) for f in SPEED_FACTORS]
        preps.append(_prepared(app, _as_recording(sims[1])))
        for s in sims:
            s.release()
        for name, runner in runners.items():
            calls = [_call(p, runner) for p in preps]
            if name in agree:
                other = _call(preps[0], retrained[name])
                agree[name].append(other == calls[0])
                calls.append(other)
            stable[name].append(all(c == calls[0] for c in calls[1:]))
            right[name].append(calls[0] == cond.fault)
    out = {name: {"n": n, "stable": round(float(np.mean(stable[name])), 4), "accuracy": round(float(np.mean(right[name])), 4),
                  "_stable": np.asarray(stable[name], dtype=bool)} for name in runners}
    for name, a in agree.items():
        out[name]["retrained_seed_agreement"] = round(float(np.mean(a)), 4)
    return out


def less_robust(a: np.ndarray, b: np.ndarray) -> bool:
    """Is variant ``a`` less robust than ``b`` (paired per recording)? See the module docstring."""
    only_b = int(np.sum(b & ~a))
    only_a = int(np.sum(a & ~b))
    d = only_b - only_a
    return d >= 3 and d > 2.0 * math.sqrt(only_a + only_b)


def choose(entry: dict, stability: dict) -> dict:
    """The robust choice from a manifest config entry and :func:`call_stability`'s result."""
    core = entry.get("chosen")
    best = max(stability, key=lambda nme: (stability[nme]["stable"], nme == core))
    robust = [nme for nme in stability if not less_robust(stability[nme]["_stable"], stability[best]["_stable"])]
    lat = {nme: (entry.get("variants", {}).get(nme, {}).get("latency_ms") or {}).get("p50", math.inf) for nme in stability}
    chosen = core if core in robust else min(robust, key=lambda nme: (lat[nme], nme))
    return {"chosen": chosen, "core_choice": core, "most_stable": best, "robust": sorted(robust),
            "less_robust": sorted(set(stability) - set(robust)),
            "variants": {nme: {k: v for k, v in s.items() if not k.startswith("_")} for nme, s in stability.items()}}


def candidates(entry: dict) -> list[str]:
    """The variants the core found eligible (within budget and faster) plus its FP32 reference and its choice."""
    search = entry.get("search") or {}
    ref = search.get("reference", "teacher_fp32")
    names = [nme for nme, row in (search.get("variants") or {}).items() if row.get("within_budget") and row.get("faster")]
    return [nme for nme in dict.fromkeys([ref, entry.get("chosen"), *names]) if nme in entry.get("variants", {})]


def runner(models_dir: Path, variant: str, *, config: str = "default"):
    """One shipped variant through ONNX Runtime (one thread), straight from the manifest's file."""
    from edgeinv.common.runtime.manifest import load_manifest
    from edgeinv.common.runtime.session import OnnxModel

    record = load_manifest(Path(models_dir)).config(config).variant(variant)
    return OnnxModel(Path(models_dir) / record.file, threads=1)


def run(app, models_dir: Path, *, config: str = "default", n: int = N_DEFAULT, write: bool = False,
        progress: bool = False, retrained_dir: Path | None = None) -> dict:
    """Measure the candidates' call stability; with ``write``, record it and the robust choice in the manifest.

    ``retrained_dir``: a second release of another training seed; only variants present in both are compared,
    and each one's call from the other seed counts as one more perturbation."""
    from edgeinv.common.runtime.manifest import load_manifest, update_manifest

    models_dir = Path(models_dir)
    entry = load_manifest(models_dir).config(config).raw  # read-only view; changes go through update_manifest
    names = candidates(entry)
    retrained = None
    perturbations = "typed speed -0.3 % and +0.3 %; the same conditions recorded again (another noise seed)"
    if retrained_dir is not None:
        other = load_manifest(Path(retrained_dir)).config(config).raw.get("variants", {})
        names = [nme for nme in names if nme in other]
        retrained = {nme: runner(Path(retrained_dir), nme, config=config) for nme in names}
        perturbations += f"; the same variant retrained with another seed ({Path(retrained_dir).name})"
    runners = {nme: runner(models_dir, nme, config=config) for nme in names}
    doc = choose(entry, call_stability(app, runners, n=n, progress=progress, retrained=retrained))
    doc.update(n=n, seed=SEED, speed_factors=list(SPEED_FACTORS), perturbations=perturbations)
    if write:
        def change(manifest):
            e = manifest["configs"][config]
            e["chosen"] = doc["chosen"]
            e["robustness"] = doc
            rows = (e.get("search") or {}).get("variants") or {}
            for nme in doc["less_robust"]:
                if nme in rows:
                    rows[nme]["within_budget"] = False
                    rows[nme].setdefault("reasons", []).append(
                        f"calls less stable than {doc['most_stable']} under speed and re-recording perturbations "
                        f"({doc['variants'][nme]['stable']:.1%} vs {doc['variants'][doc['most_stable']]['stable']:.1%} "
                        f"of {n} simulated recordings)")
            return manifest
        update_manifest(models_dir, change)
    lines = [f"call stability under {perturbations}; {n} simulated recordings (2 windows each):"]
    for nme, v in sorted(doc["variants"].items(), key=lambda kv: -kv[1]["stable"]):
        tag = " (chosen)" if nme == doc["chosen"] else (" (less robust)" if nme in doc["less_robust"] else "")
        seed_txt = (f"  agrees with its retrained twin {v['retrained_seed_agreement']:.1%}"
                    if "retrained_seed_agreement" in v else "")
        lines.append(f"  {nme:16s} stable {v['stable']:.1%}  accuracy {v['accuracy']:.1%}{seed_txt}{tag}")
    doc["text"] = "\n".join(lines)
    return doc


__all__ = ["call_stability", "choose", "candidates", "less_robust", "run"]
