"""Issue 14, item 1b: weight the bands by the real-vs-model residual spread learned on simulations with instrument
artefacts. Physics only, no label used. On S training-like simulated leaves (simulate_leaves 'trimmed': perturbed
absorption coefficients, leaf-surface artefacts, instrument) the residual measured - PROSPECT-PRO(published constants,
true traits) per band; its sd(wl) (floored at its 10th percentile) weighs a least-squares fit of EWT, protein and CBC
(N structure from baseline.structure_from_fit) over a domain: the published protein domain, or 2050-2400 nm (the wider
window rejected unweighted). python bandweight.py [S] [N_INDEP] -> N per area on the 64 real leaves per species
(R2 / bias / r) and protein NRMSE on independent simulations (seed 777001, trimmed), with the unweighted fits."""
import sys
from common import *
from edgeinv.apps.leaf_nitrogen.baseline import PARAMS, INIT, _domain_nm
from edgeinv.apps.leaf_nitrogen.independent import simulate_independent
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves, TRAIT_NAMES
S = int(sys.argv[1]) if len(sys.argv) > 1 else 300
ni = int(sys.argv[2]) if len(sys.argv) > 2 else 100
grid = np.arange(500, 2401.0)
sim = simulate_leaves(S, rng=np.random.default_rng(31), config='trimmed')
res = []
for l in sim:
    t = {k: l.truth[k] for k in TRAIT_NAMES}
    _, m, _ = prospect_pro(wavelength_nm=grid, **t)
    res.append(np.interp(grid, l.wavelength_nm, l.reflectance) - np.asarray(m).reshape(-1))
sd = np.std(np.array(res), axis=0); sd = np.maximum(sd, np.percentile(sd, 10))
DOM = {'published': _domain_nm('protein'), '2050-2400': np.arange(2050, 2401.0)}
def fit(wl, r, dom, weighted):
    n_s = structure_from_fit(wavelength_nm=wl, reflectance=r) or 1.5
    const = optical_constants().subset(dom); target = np.interp(dom, wl, r)
    w = 1.0 / np.interp(dom, grid, sd) if weighted else np.ones(len(dom))
    names = ['ewt_g_cm2', 'protein_g_cm2', 'cbc_g_cm2']
    lo = np.array([PARAMS[k][0] for k in names]); hi = np.array([PARAMS[k][1] for k in names]); sc = np.array([PARAMS[k][2] for k in names])
    def f(x):
        _, m, _ = prospect_pro(constants=const, n_struct=n_s, chlorophyll_ug_cm2=0.0, **dict(zip(names, x * sc)))
        return (np.asarray(m).reshape(-1) - target) * w
    x = least_squares(f, np.array([INIT[k] for k in names]) / sc, bounds=(lo / sc, hi / sc), method='trf',
                      diff_step=1e-4, xtol=1e-8, ftol=1e-10, max_nfev=200).x
    return x[1] * sc[1]
wl, R, sp, d = load(); n = d['N_g_m2']
ind = simulate_independent(ni, rng=np.random.default_rng(777001), config='trimmed')
tr = np.array([l.truth['protein_g_cm2'] for l in ind])
print(f'residual sd (reflectance) learned on {S} simulations: median {np.median(sd):.4f}; 2100-2180 nm '
      f'{np.median(sd[1600:1680]):.4f}, 2180-2400 {np.median(sd[1680:]):.4f}, 1400-1500 {np.median(sd[900:1000]):.4f}')
for dname, dom in DOM.items():
    for weighted in (False, True):
        e = np.array([fit(wl, r, dom, weighted) for r in R]) * 1e4 / F
        p = np.array([fit(l.wavelength_nm, l.reflectance, dom, weighted) for l in ind])
        print(f'{dname:10s} {"weighted" if weighted else "plain":8s} real ' + ' | '.join(
            f'{s} R2 {r2(e[sp==s], n[sp==s]):+.2f} bias {np.mean(e[sp==s]-n[sp==s]):+.2f} r {np.corrcoef(e[sp==s], n[sp==s])[0,1]:+.2f}'
            for s in np.unique(sp)) + f' | indep protein NRMSE {np.sqrt(np.mean((p-tr)**2))/np.ptp(tr):.3f}', flush=True)
