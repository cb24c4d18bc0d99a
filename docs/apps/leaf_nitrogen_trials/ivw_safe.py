"""Issue 14 follow-up: the shipped combination (hybrid.combine: uncertainty-weighted where the spectrum passes the
checks, physics alone where it fails one) on unphysical spectra and on held-out simulated leaves
(python ivw_safe.py [N_SIM]). Real leaves: `edgeinv leaf-nitrogen evaluate-real`; independent simulation:
`edgeinv leaf-nitrogen check-independent`.
Unphysical spectra (ood_garbage.garbage_cases) through the whole edge path (network + hybrid + interpret), full and
trimmed: score, physics weight, the failed checks, N per area and its 1 sigma, and where the case is a distorted leaf
with known traits (noise), whether +-1/2 sigma covers them. Held-out simulated leaves (seed 100003, drawn like
training): protein RMSE and +-1 sigma coverage, network alone vs the edge path."""
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.hybrid import hybrid_outputs
from edgeinv.apps.leaf_nitrogen.interpret import interpret_leaf
from edgeinv.apps.leaf_nitrogen.io import LeafSpectrum
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves
from edgeinv.common.runtime.session import load_model
from ood_garbage import garbage_cases

n_sim = int(sys.argv[1]) if len(sys.argv) > 1 else 300
models = Path(__file__).resolve().parents[3] / "models/leaf_nitrogen"
man = json.load(open(models / "manifest.json"))
for config in ("full", "trimmed"):
    run = load_model(models / config / f"{man['configs'][config]['chosen']}.onnx", threads=1)
    one = lambda leaf: {k: np.asarray(v, float).reshape(-1)[0] for k, v in run(APP.preprocess(leaf, config=config)[None]).items()}
    print(f"== {config}: unphysical spectra ==")
    for name, (wl, r, truth) in garbage_cases(config).items():
        leaf = LeafSpectrum("g", wl, np.clip(r, 1e-3, 0.99))
        net = one(leaf)
        out, info = hybrid_outputs(net, leaf, config=config)
        res = interpret_leaf(out, leaf, config=config, info=info)
        n, ns = res.values.get("nitrogen_g_m2"), res.stds.get("nitrogen_g_m2")
        nn = net["protein_g_cm2"] * 1e4 / APP.n_to_protein
        txt = "N withheld" if n is None else f"N {n:.2f} +- {ns:.2f} g/m2 ({100 * ns / n:.0f} %)"
        cov = ""
        if truth is not None and n is not None:
            t = truth["protein_g_cm2"] * 1e4 / APP.n_to_protein
            cov = f" | base leaf {t:.2f}: |err|/sigma {abs(n - t) / ns:.2f}"
        print(f"  {name:32s} score {info['ood_score']:7.2f} physics weight {info['physics_weight']:.2f} "
              f"network N {nn:.2f} +- {net['protein_g_cm2_std'] * 1e4 / APP.n_to_protein:.2f} | {txt}{cov} | "
              f"checks: {'; '.join(info.get('unlike_any_leaf') or []) or '-'}", flush=True)
    leaves = simulate_leaves(n_sim, rng=np.random.default_rng(100003), config=config)
    x = np.stack([APP.preprocess(lf, config=config) for lf in leaves])
    raw = {k: np.asarray(v, float).reshape(len(leaves), -1)[:, 0] for k, v in run(x).items()}
    truth = np.array([lf.truth["protein_g_cm2"] for lf in leaves])
    rows = [hybrid_outputs({k: v[i] for k, v in raw.items()}, lf, config=config, x=x[i]) for i, lf in enumerate(leaves)]
    hp = np.array([o["protein_g_cm2"] for o, _ in rows]); hs = np.array([o["protein_g_cm2_std"] for o, _ in rows])
    w = np.array([i["physics_weight"] for _, i in rows]); hard = np.array([bool(i["unlike_any_leaf"]) for _, i in rows])
    rm = lambda p: np.sqrt(np.mean((p - truth) ** 2))
    print(f"== {config}: {n_sim} held-out simulated leaves: protein RMSE network {rm(raw['protein_g_cm2']):.3e} "
          f"(+-1 sigma {np.mean(abs(raw['protein_g_cm2'] - truth) <= raw['protein_g_cm2_std']):.2f}), edge path "
          f"{rm(hp):.3e} (+-1 sigma {np.mean(abs(hp - truth) <= hs):.2f}); physics weight > 0 on {100 * np.mean(w > 0):.1f} %, "
          f"physics alone (a check failed) on {100 * np.mean(hard):.1f} %", flush=True)
