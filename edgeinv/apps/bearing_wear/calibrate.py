"""Set the decision layer's constants on simulations (never on real files): gate, OOD statistics, temperature.

``edgeinv bearing-wear calibrate-decision`` writes ``data/calibration.json``:

* ``gate_db``: the envelope-line evidence a fault needs to be named, the 99th percentile of the
  strongest hypothesis' gate score over simulated *healthy* recordings (one analysis window each, the
  hardest case; hard negatives included: looseness, shaft-rate impacts, gear tones, knocks), so
  about 1 % of healthy single-window recordings pass the gate on evidence alone;
* ``ball_sideband_db``: the FTF-sideband height a ball fault needs besides its 2xBSF lines, the 5th
  percentile over simulated ball faults that pass the line gate;
* ``ood``: robust centre, scale, shrunk precision matrix and distance quantiles of the summary of
  simulated training-distribution windows, and the flag distance (99.9th percentile over a separate
  set of held-out simulated windows; :func:`ood.fit`);
* ``entry_exit_prominence``: the autocorrelation-bump prominence the severity index needs to read a
  spall length from the entry/exit delay, the 90th percentile of the strongest spurious bump on
  simulated healthy recordings (:func:`severity.healthy_prominences`; the quantile chosen on simulated
  size sweeps, :data:`severity.PROMINENCE_QUANTILE`);
* ``speed_margin_db``: how much stronger a shaft-line family away from the given speed must be to say the speed
  or fs is off, the 99th percentile over simulated recordings typed right or 1 % off (:func:`speed_margins`,
  :func:`ood.speed_check`);
* ``temperature``: temperature scaling of the shipped model's probabilities (Guo et al., "On
  calibration of modern neural networks", ICML 2017), the value minimising the negative
  log-likelihood of held-out simulated windows, with the expected calibration error before/after.

Seeds differ from the training and held-out seeds of the release pipeline.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from . import decision as D
from . import features as F
from . import ood as _ood
from . import severity as _severity
from .physics import FAULTS
from .simulate import SimulatedRecording, draw_conditions

SEED = 424242


def _recording(rng, **kw):
    cond = draw_conditions(rng=rng, **kw)
    n = F.window_length(fs_hz=cond.fs_hz, rpm=cond.reported_rpm)
    return SimulatedRecording(cond, seed=int(rng.integers(2**63)), duration_s=1.02 * n / cond.fs_hz)


def gate_scores(app, *, n: int, rng, fault: str | None) -> np.ndarray:
    """Gate scores (dB) of the called / strongest hypothesis over ``n`` simulated one-window recordings."""
    out = []
    for _ in range(n):
        rec = _recording(rng, fault=fault)
        an = app.analyse(rec, max_windows=1)
        ev = D.line_evidence(an, geometry=rec.geometry)
        if fault in (None, "none"):
            out.append(max(v["gate_db"] for v in ev.values()))
        else:
            out.append(ev[fault]["gate_db"])
        rec.release()
    return np.asarray(out)


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top-class probability."""
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    err = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            err += m.mean() * abs(right[m].mean() - conf[m].mean())
    return float(err)


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    grid = np.exp(np.linspace(np.log(0.5), np.log(5.0), 61))
    nll = [-np.mean(np.log(D.calibrate_probs(probs, t=t)[np.arange(len(y)), y] + 1e-12)) for t in grid]
    return float(grid[int(np.argmin(nll))])


def severity_ranking(app, runner, *, n: int, rng) -> dict:
    """Spearman of two severity candidates with the true spall size (and with the SNR) on simulated race faults."""
    from scipy import stats

    rows = []
    for i in range(n):
        fault = ("outer_race", "inner_race")[i % 2]
        rec = _recording(rng, fault=fault)
        an = app.analyse(rec, max_windows=1)
        ev = D.line_evidence(an, geometry=rec.geometry)
        size = float(np.asarray(runner(np.stack([a.x for a in an]))["defect_size_mm"]).reshape(-1)[0])
        rows.append((rec.truth["defect_size_mm"], rec.truth["snr_db"], float(np.mean(ev[fault]["lines_db"])), size))
        rec.release()
    r = np.asarray(rows)
    rho = lambda a, b: round(float(stats.spearmanr(a, b).statistic), 3)  # noqa: E731
    return {"n": n, "line_height_vs_size": rho(r[:, 0], r[:, 2]), "line_height_vs_snr": rho(r[:, 1], r[:, 2]),
            "model_size_vs_size": rho(r[:, 0], r[:, 3]), "model_size_vs_snr": rho(r[:, 1], r[:, 3])}


def speed_margins(*, n: int, rng) -> np.ndarray:
    """How far the best shaft-line family away from the typed speed stands over the one at it (dB), on simulated
    recordings of every class whose speed is typed right (0.3 % error, 1 sigma) or 1 % off either way."""
    out = []
    for _ in range(n):
        rec = _recording(rng)
        for f in (1.0, 0.99, 1.01):
            windows = F.spectral_windows(rec.signal, fs_hz=rec.fs_hz, rpm=rec.rpm * f)
            c = _ood.speed_check(windows, rpm=rec.rpm * f, geometry=rec.geometry, margin_db=0.0)
            out.append(c["family_at_other_db"] - c["family_at_given_db"])
        rec.release()
    return np.asarray(out)


def run(app, runner, *, n_gate: int = 300, n_ood: int = 1500, n_sev: int = 150, progress: bool = True) -> dict:
    """Compute the constants; returns the document written to ``data/calibration.json``."""
    rng = np.random.default_rng(SEED)
    healthy = gate_scores(app, n=n_gate, rng=rng, fault="none")
    gate = float(np.quantile(healthy, 0.99))
    sens = {f: float(np.mean(gate_scores(app, n=max(n_gate // 3, 20), rng=rng, fault=f) >= gate)) for f in FAULTS[1:]}
    sb = []
    for _ in range(max(n_gate // 3, 20)):  # FTF sidebands of simulated ball faults that pass the line gate
        rec = _recording(rng, fault="ball")
        ev = D.line_evidence(app.analyse(rec, max_windows=1), geometry=rec.geometry)
        if ev["ball"]["gate_db"] >= gate:
            sb.append(ev["ball"]["ftf_sidebands_db"])
        rec.release()
    ball_sb = float(np.quantile(sb, 0.05)) if len(sb) >= 5 else D.BALL_SIDEBAND_DB
    data = app.simulate(n_ood, rng=np.random.default_rng(SEED + 1))
    held = app.simulate(max(n_ood * 2 // 3, 100), rng=np.random.default_rng(SEED + 5))
    ood = _ood.fit(data.x, held.x)
    prom = _severity.healthy_prominences(app, n=n_gate, rng=np.random.default_rng(SEED + 6))
    doc = {"entry_exit_prominence": round(float(np.quantile(prom, _severity.PROMINENCE_QUANTILE)), 3),
           "entry_exit_prominence_healthy_quantiles": np.round(np.quantile(prom, [0.5, 0.9, 0.99]), 3).tolist(), "gate_db": round(gate, 2), "ball_sideband_db": round(ball_sb, 2), "n_ball_gated": len(sb), "gate_healthy_quantiles_db": np.round(np.quantile(healthy, [0.5, 0.9, 0.99]), 2).tolist(),
           "gate_pass_rate_on_faults": sens, "ood": ood, "seed": SEED, "n_gate": n_gate, "n_ood": n_ood}
    sm = speed_margins(n=n_gate, rng=np.random.default_rng(SEED + 7))
    doc.update(speed_margin_db=round(float(np.quantile(sm, 0.99)), 2),
               speed_margin_quantiles_db=np.round(np.quantile(sm, [0.5, 0.9, 0.99]), 2).tolist())
    if runner is not None:
        doc.update(model_constants(app, runner, n_held=max(n_ood // 2, 200), n_sev=n_sev))
    return doc


def model_constants(app, runner, *, n_held: int = 750, n_sev: int = 150) -> dict:
    """The constants that depend on the shipped model: probability temperature (and ECE), severity ranking."""
    held = app.simulate(n_held, rng=np.random.default_rng(SEED + 2))
    probs = np.asarray(runner(held.x)["fault"], dtype=float)
    y = held.y["fault"]
    t = fit_temperature(probs, y)
    return {"temperature": round(t, 3), "ece_before": round(ece(probs, y), 4),
            "ece_after": round(ece(D.calibrate_probs(probs, t=t), y), 4),
            "severity_rank_on_sims": severity_ranking(app, runner, n=n_sev, rng=np.random.default_rng(SEED + 3))}


def decision_check(app, runner, *, n: int = 300, seed: int = SEED + 4) -> dict:
    """Whole-file accuracy on simulated recordings (two windows each): the model alone vs the full decision.

    The model alone: argmax of the window-averaged probabilities. The decision: temperature, evidence
    gate and evidence weights (:func:`interpret.combine`). Also how often a healthy recording is named
    faulty and a faulty one called healthy.
    """
    rng = np.random.default_rng(seed)
    y, raw, dec, snr = [], [], [], []
    for _ in range(n):
        cond = draw_conditions(rng=rng)
        w = F.window_length(fs_hz=cond.fs_hz, rpm=cond.reported_rpm)
        rec = SimulatedRecording(cond, seed=int(rng.integers(2**63)), duration_s=2.02 * w / cond.fs_hz)
        an = app.analyse(rec)
        p = np.asarray(runner(np.stack([a.x for a in an]))["fault"], dtype=float).mean(axis=0)
        y.append(FAULTS.index(cond.fault))
        snr.append(cond.snr_db)
        raw.append(int(np.argmax(p)))
        dec.append(FAULTS.index(app.predict(rec, runner).fault))
        rec.release()
    y, raw, dec, snr = map(np.asarray, (y, raw, dec, snr))
    healthy = y == 0
    hi = snr >= 0.0

    def rates(pred):
        return {"accuracy": round(float(np.mean(pred == y)), 4),
                "healthy_called_faulty": round(float(np.mean(pred[healthy] != 0)), 4) if healthy.any() else None,
                "faulty_called_healthy": round(float(np.mean(pred[~healthy] == 0)), 4),
                "per_class": {f: round(float(np.mean(pred[y == i] == i)), 3) for i, f in enumerate(FAULTS) if (y == i).any()}}

    return {"n": n, "seed": seed, "model_alone": rates(raw), "decision": rates(dec),
            "snr_at_least_0db": {"n": int(hi.sum()), "model_alone": round(float(np.mean(raw[hi] == y[hi])), 4),
                                 "decision": round(float(np.mean(dec[hi] == y[hi])), 4),
                                 "decision_faulty_called_healthy": round(float(np.mean(dec[hi & ~healthy] == 0)), 4)}}


def write(doc: dict, path: Path | None = None) -> Path:
    path = Path(path) if path else Path(str(resources.files(__package__).joinpath("data/calibration.json")))
    path.write_text(json.dumps(doc, indent=1) + "\n")
    D.calibration.cache_clear()
    _ood._shipped.cache_clear()
    return path
