"""PROSPECT-PRO forward with per-leaf smooth multiplicative perturbations of the water and CBC absorption spectra."""
import dataclasses, os
import numpy as np
from edgeinv.apps.leaf_nitrogen import simulate as S
from edgeinv.apps.leaf_nitrogen.physics import optical_constants, prospect_pro


def settings():
    return tuple(float(os.environ.get(k, v)) for k, v in (("AUG_SHARE", 0.6), ("AUG_SD_W", 0.05), ("AUG_SD_C", 0.15)))


def make_forward(share=None, sd_w=None, sd_c=None, seed=99):
    d = settings()
    share, sd_w, sd_c = (d[0] if share is None else share), (d[1] if sd_w is None else sd_w), (d[2] if sd_c is None else sd_c)
    rng_k = np.random.default_rng(seed)

    def forward(traits, *, chunk=2000):
        const = optical_constants()
        wl = const.wavelength_nm
        t = (wl - 1450.0) / 1050.0
        basis = np.stack([np.ones_like(t), t, t * t - 1 / 3, t ** 3 - 0.6 * t])
        n = len(traits["n_struct"])
        refl = np.empty((n, len(wl))); tran = np.empty_like(refl)
        for s in range(0, n, chunk):
            sl = slice(s, s + chunk); m = len(range(*sl.indices(n)))
            hit = (rng_k.random(m) < share)[:, None]
            gw = 1 + hit * (rng_k.normal(0, sd_w, (m, 3)) @ basis[:3])
            gc = 1 + hit * (rng_k.normal(0, sd_c, (m, 4)) @ basis)
            c = dataclasses.replace(const, k_water=const.k_water[None] * np.clip(gw, 0.3, None),
                                    k_cbc=const.k_cbc[None] * np.clip(gc, 0.3, None))
            _, refl[sl], tran[sl] = prospect_pro(constants=c, **{k: np.asarray(traits[k])[sl] for k in S.TRAIT_NAMES})
        return wl, refl, tran
    return forward
