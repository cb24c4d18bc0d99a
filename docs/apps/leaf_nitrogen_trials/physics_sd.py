"""Issue 14, stop 24: the physics inversion's own error on held-out simulated leaves drawn like training, as the hybrid
uses it (hybrid.physics_estimate: structure N fitted), against the hybrid's PHYSICS_SD (set before training leaves
carried the absorption-coefficient uncertainty and leaf-surface artefacts).

python physics_sd.py [N] [SEED] [CONFIG]   (default 300 leaves, seed 24, trimmed). No real leaf is read."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from edgeinv.apps.leaf_nitrogen.hybrid import PHYSICS_SD, physics_estimate
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves

n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 24
config = sys.argv[3] if len(sys.argv) > 3 else "trimmed"
truth_key = {"protein_g_cm2": "protein_g_cm2", "chlorophyll_ug_cm2": "chlorophyll_ug_cm2", "ewt_g_cm2": "ewt_g_cm2",
             "lma_g_cm2": "lma_g_cm2"}
rng = np.random.default_rng(seed)
for name, kw in (("drawn like training (artefacts, perturbed coefficients)", {}),
                 ("published coefficients, no artefacts", {"artefacts": False, "coefficients": False})):
    leaves = [leaf for s in range(0, n, 100) for leaf in simulate_leaves(min(100, n - s), rng=rng, config=config, **kw)]
    est = [physics_estimate(leaf) for leaf in leaves]
    print(f"{n} held-out simulated leaves, {config}, {name}:")
    for k, t in truth_key.items():
        e = np.array([x.get(k, np.nan) - leaf.truth[t] for x, leaf in zip(est, leaves)])
        e = e[np.isfinite(e)]
        print(f"  {k:20s} RMSE {np.sqrt(np.mean(e**2)):.3g}  median |e| {np.median(abs(e)):.3g}  bias {np.mean(e):+.3g}"
              f"  (PHYSICS_SD {PHYSICS_SD[k]:.3g})")
