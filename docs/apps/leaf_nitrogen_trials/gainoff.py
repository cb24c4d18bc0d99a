"""Issue 14, item 1b: a smooth instrument term (sphere vs leaf clip) fitted jointly with the structure parameter.
Physics only, no label used: PROSPECT-D (N, EWT, LMA; pigments zero) times a gain linear in wavelength plus a constant
offset, fitted over baseline.STRUCTURE_DOMAINS_NM; the spectrum corrected, R' = (R - offset) / gain(wl), then the
shipped physics inversion (baseline.invert, structure fitted) on R'. python gainoff.py [N_INDEP] -> N per area on the
64 real leaves per species (R2 / bias / r) and protein NRMSE on independent simulations (seed 777001, trimmed),
against the shipped physics inversion on the same leaves."""
import sys
from common import *
from edgeinv.apps.leaf_nitrogen.baseline import STRUCTURE_DOMAINS_NM, PARAMS, invert
from edgeinv.apps.leaf_nitrogen.independent import simulate_independent
from edgeinv.apps.leaf_nitrogen.physics import optical_constants
def corrected(wl, r):
    d = np.concatenate([np.arange(a, b + 1.0) for a, b in STRUCTURE_DOMAINS_NM])
    const = optical_constants().subset(d); r_d = np.interp(d, wl, r); t = (d - 1450.0) / 1050.0
    def res(x):
        _, m, _ = prospect_pro(constants=const, n_struct=x[0], chlorophyll_ug_cm2=0.0, ewt_g_cm2=0.01 * x[1], lma_g_cm2=0.005 * x[2])
        return np.asarray(m).reshape(-1) * (x[3] + x[4] * t) + x[5] - r_d
    lo, hi, _ = PARAMS['n_struct']
    x = least_squares(res, [1.5, 1.5, 1.0, 1.0, 0.0, 0.0], bounds=([max(lo, 1.0), 0.01, 0.02, 0.85, -0.1, -0.03],
                      [hi, 10.0, 6.0, 1.15, 0.1, 0.05]), method='trf', diff_step=1e-4, max_nfev=300).x
    tw = (np.asarray(wl, float) - 1450.0) / 1050.0
    return (np.asarray(r, float) - x[5]) / (x[3] + x[4] * tw), x[3:]
def prot(wl, r):
    return invert(wavelength_nm=wl, reflectance=r, fit_structure=True)['protein_g_cm2']
wl, R, sp, d = load(); n = d['N_g_m2']
base = np.array([prot(wl, r) for r in R]) * 1e4 / F
cor = [corrected(wl, r) for r in R]
new = np.array([prot(wl, c) for c, _ in cor]) * 1e4 / F
terms = np.array([x for _, x in cor])
for k, e in (('shipped physics', base), ('gain+offset first', new)):
    print(f'real {k:18s}', ' | '.join(f'{s} R2 {r2(e[sp==s], n[sp==s]):+.2f} bias {np.mean(e[sp==s]-n[sp==s]):+.2f} '
                                       f'r {np.corrcoef(e[sp==s], n[sp==s])[0,1]:+.2f}' for s in np.unique(sp)), flush=True)
print('fitted gain at 1450 nm, slope, offset (species medians):', ' | '.join(
    f'{s} ' + ' '.join(f'{v:+.3f}' for v in np.median(terms[sp == s], axis=0)) for s in np.unique(sp)))
ni = int(sys.argv[1]) if len(sys.argv) > 1 else 100
ind = simulate_independent(ni, rng=np.random.default_rng(777001), config='trimmed')
tr = np.array([l.truth['protein_g_cm2'] for l in ind])
for k in ('shipped physics', 'gain+offset first'):
    p = np.array([prot(l.wavelength_nm, l.reflectance if k.startswith('shipped') else corrected(l.wavelength_nm, l.reflectance)[0]) for l in ind])
    print(f'indep {k:18s} protein NRMSE {np.sqrt(np.mean((p-tr)**2))/np.ptp(tr):.3f} ({ni} leaves)', flush=True)
