"""Cost of the edge path's combination, interleaved in one run (python ivw_cost.py [ROUNDS]): per real leaf (trimmed,
the shipped variant, one thread) and per round, in rotating order: the network-only path (`predict --network-only`:
preprocess, ONNX, off-manifold score, interpret), the shipped edge path (the same + physics inversion, checks and the
uncertainty-weighted combination where the score fires), and the two physics parts alone (inversion; fit residual,
the part this stop added to the switch). Medians per leaf and the ratio to the network-only path. The machine is
shared: only ratios measured in one run mean anything."""
import json, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.hybrid import hybrid_outputs, physics_estimate, physics_fit_residual, prepare
from edgeinv.apps.leaf_nitrogen.interpret import interpret_leaf
from edgeinv.apps.leaf_nitrogen.realdata import read_table
from edgeinv.common.runtime.session import load_model
from load import P

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
models = Path(__file__).resolve().parents[3] / "models/leaf_nitrogen"
run = load_model(models / "trimmed" / f"{json.load(open(models / 'manifest.json'))['configs']['trimmed']['chosen']}.onnx", threads=1)
prepare("trimmed")
leaves = [t["leaf"] for t in read_table(P)]


def path(leaf, network_only):
    leaf.meta["network_only"] = network_only
    x = APP.preprocess(leaf, config="trimmed")
    out = {k: np.asarray(v, float).reshape(-1)[0] for k, v in run(x[None]).items()}
    merged, info = hybrid_outputs(out, leaf, config="trimmed", x=x)
    return interpret_leaf(merged, leaf, config="trimmed", info=info)


phys = {lf.sample: physics_estimate(lf) for lf in leaves}  # the residual is timed on its own
jobs = {"network-only path": lambda lf: path(lf, True), "shipped edge path": lambda lf: path(lf, False),
        "physics inversion": physics_estimate, "fit residual": lambda lf: physics_fit_residual(lf, phys[lf.sample])}
names = list(jobs)
t = {k: [] for k in names}
for r in range(rounds):
    for i, lf in enumerate(leaves):
        for j in range(len(names)):
            k = names[(i + r + j) % len(names)]
            t0 = time.perf_counter(); jobs[k](lf); t[k].append(time.perf_counter() - t0)
base = np.median(t["network-only path"])
for k in names:
    print(f"{k:20s} median {1e3 * np.median(t[k]):8.2f} ms per leaf, mean {1e3 * np.mean(t[k]):8.2f} ms  "
          f"x network-only (median) {np.median(t[k]) / base:7.1f}")
