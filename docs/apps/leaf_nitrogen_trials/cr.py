"""Issue 14, item 2: a carbon-constituent / protein separation on continuum-removed 2030-2230 nm features.

Physics only (no label fitted): N structure from the edge path's fit (baseline.structure_from_fit), then EWT, protein
and CBC fitted by least squares to the measured spectrum divided by its straight-line continuum between the shoulders
(means over 2030-2040 and 2220-2230 nm), the model treated the same way -- gains and smooth slopes (leaf clip, water-
band wing) cancel, the band shapes remain. Domains: A = the published protein domain, B = 2050-2220 nm whole.
python cr.py [N_INDEP] -> N per area on the 64 real leaves per species (R2 / bias) and protein NRMSE on independent
simulations (seed 777001), against the shipped physics inversion on the same leaves."""
import sys
from common import *
from edgeinv.apps.leaf_nitrogen.baseline import _domain_nm, PARAMS, INIT, invert
from edgeinv.apps.leaf_nitrogen.independent import simulate_independent
SH = ((2030, 2040), (2220, 2230))
DOM = {'A': _domain_nm('protein'), 'B': np.arange(2050, 2221.0)}
def cr(wl_all, r_all, d):
    (a0, a1), (b0, b1) = SH
    xa, xb = (a0 + a1) / 2, (b0 + b1) / 2
    ya = r_all[(wl_all >= a0) & (wl_all <= a1)].mean(axis=-1); yb = r_all[(wl_all >= b0) & (wl_all <= b1)].mean(axis=-1)
    cont = ya[..., None] + (yb - ya)[..., None] * (d - xa) / (xb - xa)
    return np.interp(d, wl_all, r_all) / cont if r_all.ndim == 1 else None
def fit_cr(wl, r, dom):
    n_s = structure_from_fit(wavelength_nm=wl, reflectance=r)
    grid = np.arange(SH[0][0], SH[1][1] + 1.0)
    const = optical_constants().subset(grid)
    target = cr(grid, np.interp(grid, wl, r), dom)
    names = ['ewt_g_cm2', 'protein_g_cm2', 'cbc_g_cm2']
    lo = np.array([PARAMS[k][0] for k in names]); hi = np.array([PARAMS[k][1] for k in names]); sc = np.array([PARAMS[k][2] for k in names])
    def res(x):
        p = dict(zip(names, x * sc))
        _, rm, _ = prospect_pro(constants=const, n_struct=n_s, chlorophyll_ug_cm2=0.0, **p)
        return cr(grid, rm, dom) - target
    sol = least_squares(res, np.array([INIT[k] for k in names]) / sc, bounds=(lo / sc, hi / sc), method='trf',
                        diff_step=1e-4, xtol=1e-8, ftol=1e-10, max_nfev=200)
    return dict(zip(names, sol.x * sc))
wl, R, sp, d = load(); n = d['N_g_m2']
ref = np.array([invert(wavelength_nm=wl, reflectance=r, fit_structure=True)['protein_g_cm2'] for r in R]) * 1e4 / F
out = {'shipped physics': ref}
for k, dom in DOM.items():
    out[f'CR {k}'] = np.array([fit_cr(wl, r, dom)['protein_g_cm2'] for r in R]) * 1e4 / F
for k, e in out.items():
    print(f'real {k:16s}', ' | '.join(f'{s} R2 {r2(e[sp==s], n[sp==s]):+.2f} bias {np.mean(e[sp==s]-n[sp==s]):+.2f} '
                                       f'r {np.corrcoef(e[sp==s], n[sp==s])[0,1]:+.2f}' for s in np.unique(sp)), flush=True)
ni = int(sys.argv[1]) if len(sys.argv) > 1 else 100
ind = simulate_independent(ni, rng=np.random.default_rng(777001), config='trimmed')
tr = np.array([l.truth['protein_g_cm2'] for l in ind])
for k, dom in [('shipped physics', None)] + list(DOM.items()):
    p = np.array([invert(wavelength_nm=l.wavelength_nm, reflectance=l.reflectance, fit_structure=True)['protein_g_cm2']
                  if dom is None else fit_cr(l.wavelength_nm, l.reflectance, dom)['protein_g_cm2'] for l in ind])
    print(f'indep {k:16s} protein NRMSE {np.sqrt(np.mean((p-tr)**2))/np.ptp(tr):.3f} ({ni} leaves)', flush=True)
