"""Share of simulated leaves flagged "leaf N per area only roughly resolved" (1 sigma > interpret.N_ROUGH_REL of N)
and their relative 1 sigma, through the shipped edge path: held-out-like leaves (seed 100003, drawn like training)
and the independent simulation (seed 777001). python rough_sim.py [N] [MODELS_DIR]."""
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.hybrid import hybrid_outputs
from edgeinv.apps.leaf_nitrogen.interpret import interpret_leaf
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves
from edgeinv.apps.leaf_nitrogen.independent import simulate_independent
from edgeinv.common.runtime.session import load_model
n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
models = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[3] / "models/leaf_nitrogen"
man = json.load(open(models / "manifest.json"))["configs"]
for config in ("full", "trimmed"):
    run = load_model(models / config / f"{man[config]['chosen']}.onnx", threads=1)
    for name, leaves in (("held-out-like", simulate_leaves(n, rng=np.random.default_rng(100003), config=config)),
                         ("independent", simulate_independent(n, rng=np.random.default_rng(777001), config=config))):
        x = np.stack([APP.preprocess(l, config=config) for l in leaves])
        raw = {k: np.asarray(v, float).reshape(len(leaves), -1)[:, 0] for k, v in run(x).items()}
        rel, rough = [], []
        for i, leaf in enumerate(leaves):
            out, info = hybrid_outputs({k: v[i] for k, v in raw.items()}, leaf, config=config, x=x[i])
            r = interpret_leaf(out, leaf, config=config, info=info)
            if r.values.get("nitrogen_g_m2"):
                rel.append(r.stds["nitrogen_g_m2"] / r.values["nitrogen_g_m2"])
            rough.append(any("roughly resolved" in f for f in r.flags))
        rel = np.array(rel)
        print(f"{config:8s} {name:14s} n {n}: flagged rough {100*np.mean(rough):.1f} %; N 1 sigma / N median "
              f"{np.median(rel):.3f}, p10-p90 {np.percentile(rel, 10):.3f}-{np.percentile(rel, 90):.3f}", flush=True)
