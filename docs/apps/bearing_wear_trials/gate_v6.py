"""(issue 13, stop 24, stage B) Evidence-gate pass rates of a `bearing_wear` package on simulations, as
`calibrate.run` computes them (seed 424242): the gate = 99th percentile of the strongest hypothesis' gate score on N
simulated healthy one-window recordings, then the share of N/3 recordings per fault class that pass it. The line
evidence depends on the preprocessing only (no model), so variants of the preprocessing can be compared before
training: copy the package (`cp -r edgeinv/apps/bearing_wear W/bw_X`), edit the copy, run

    OMP_NUM_THREADS=1 .venv/bin/python docs/apps/bearing_wear_trials/gate_v6.py W bw_X 300

(`edgeinv` itself for the working tree: `... gate_v6.py - edgeinv.apps.bearing_wear 300`). Stop-24 variants, each
from the one before unless said: A = version 6 with one-order background blocks; B = A with envelopes oversampled
2x; C = B with kurtogram levels up to 5; D = C with the kurtogram on the first second; E = D with version 5's
running median; F = A with two-order blocks (shipped); G = B with two-order blocks; v5 = commit 66d70ed's package.
"""
import importlib
import sys

import numpy as np

if sys.argv[1] != "-":
    sys.path.insert(0, sys.argv[1])
C = importlib.import_module(sys.argv[2] + ".calibrate")
APP = importlib.import_module(sys.argv[2] + ".app").APP
n = int(sys.argv[3])
rng = np.random.default_rng(424242)
healthy = C.gate_scores(APP, n=n, rng=rng, fault="none")
gate = float(np.quantile(healthy, 0.99))
sens = {f: round(float(np.mean(C.gate_scores(APP, n=max(n // 3, 20), rng=rng, fault=f) >= gate)), 2)
        for f in ("outer_race", "inner_race", "ball", "cage")}
print(sys.argv[2], "gate", round(gate, 2), "dB; pass rates", sens)
