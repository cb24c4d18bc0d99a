"""Issue 14, item 1: where within-species N-per-area variance comes from, and what an LMA route gives.

N_area = N_mass x LMA, so var(log N_area) = var(log LMA) + var(log N_mass) + 2 cov (per species, measured traits).
Routes to N per area, zero-shot (python nroute.py [estimates.pkl]):
  protein: the shipped edge path's N (hybrid protein / 4.43);
  LMA:     the edge path's LMA x an N-per-mass prior from the maize trait table (Ge 2019, 300 leaves; its median and
           log-sd) -- no evaluation leaf used;
  both:    inverse-variance mean of the two in log space (sigma of the LMA route: LMA sigma (+) the prior's log-sd).
"""
import pickle, sys, csv
from pathlib import Path
from common import *
wl, R, sp, d = load()
n, lma = d['N_g_m2'], d['LMA_g_m2']
est = pickle.load(open(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name('estimates.pkl'), 'rb'))
print('variance of log N_area per species, shares: log LMA | log N_mass | 2 cov(log LMA, log N_mass)')
for s in list(np.unique(sp)) + ['all']:
    m = np.ones(len(sp), bool) if s == 'all' else sp == s
    la, ll = np.log(n[m]), np.log(lma[m]); lm = la - ll; v = la.var()
    c = 2 * np.mean((ll - ll.mean()) * (lm - lm.mean()))
    print(f'  {s:6s} n {m.sum():2d} var {v:.3f} | LMA {ll.var()/v:.2f} | N_mass {lm.var()/v:.2f} | 2cov {c/v:+.2f} '
          f'| r(LMA, N_mass) {np.corrcoef(ll, lm)[0,1]:+.2f} | r2(N_area, LMA) {np.corrcoef(n[m], lma[m])[0,1]**2:.2f} '
          f'| r2(N_area, N_mass) {np.corrcoef(n[m], np.exp(lm))[0,1]**2:.2f}')
maize = Path(P).parents[1] / 'maize_ge2019_traits_only/labdata.csv'
nm = np.array([float(r['N']) for r in csv.DictReader(open(maize))]) / 100
prior, prior_sd = float(np.exp(np.mean(np.log(nm)))), float(np.std(np.log(nm)))
print(f'N-per-mass prior (maize table, {len(nm)} leaves): geometric mean {100*prior:.2f} %, log-sd {prior_sd:.2f}')
g = lambda k, w='hyb': np.array([e[w].get(k, np.nan) for e in est])
n_prot = g('protein_g_cm2') * 1e4 / F
s_prot = g('protein_g_cm2_std') * 1e4 / F
lma_hat = g('lma_g_cm2') * 1e4; lma_sd = g('lma_g_cm2_std') * 1e4
print('edge-path LMA vs measured, R2 per species:', ' '.join(f'{s} {r2(lma_hat[sp==s], lma[sp==s]):+.2f} '
      f'(r {np.corrcoef(lma_hat[sp==s], lma[sp==s])[0,1]:+.2f})' for s in np.unique(sp)))
n_lma = lma_hat * prior
sl_lma = np.hypot(lma_sd / lma_hat, prior_sd)  # log-sd of the LMA route
sl_prot = np.hypot(s_prot / n_prot, 0.10)       # log-sd of the protein route (its sigma incl. the factor's 10 %)
w = (1 / sl_prot**2) / (1 / sl_prot**2 + 1 / sl_lma**2)
n_both = np.exp(w * np.log(n_prot) + (1 - w) * np.log(n_lma))
n_true_lma = lma * prior  # the LMA route with LMA known exactly: its ceiling
print('route                      ' + ' | '.join(f'{s:>22s}' for s in np.unique(sp)) + '   (NRMSE / R2 / bias g/m2)')
for name, e in (('protein (shipped hybrid)', n_prot), ('LMA x prior', n_lma), ('inverse-variance both', n_both),
                ('measured LMA x prior', n_true_lma)):
    print(f'{name:26s} ' + ' | '.join(f'{nrmse(e[sp==s], n[sp==s]):.3f} / {r2(e[sp==s], n[sp==s]):+.2f} / '
                                       f'{np.mean(e[sp==s]-n[sp==s]):+.2f}' for s in np.unique(sp)))
print('weight of the protein route (median per species):', ' '.join(f'{s} {np.median(w[sp==s]):.2f}' for s in np.unique(sp)))
