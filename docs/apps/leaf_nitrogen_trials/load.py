"""The Ely 2019 table for the trial scripts, read by the app's own reader (``realdata.read_table``)."""
import sys; sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[3]))
from pathlib import Path
import numpy as np
from edgeinv.apps.leaf_nitrogen.realdata import read_table
P = Path(__file__).resolve().parents[4] / 'shared/realdata/leaf-nitrogen/ely2019_dev_species/ely2019_dev_species.csv'
def load():
    """``wl, R (fraction), species, {"C_g_m2", "H20_g_m2", "LMA_g_m2", "N_g_m2"}`` (NaN where not measured)."""
    t = read_table(P)
    wl = t[0]["leaf"].wavelength_nm
    R = np.stack([x["leaf"].reflectance for x in t])
    sp = np.array([x["species"] for x in t])
    num = lambda k: np.array([np.nan if x.get(k) is None else x[k] for x in t], float)
    d = {"C_g_m2": num("c_g_m2"), "H20_g_m2": num("h2o_g_m2"), "LMA_g_m2": num("lma_g_m2"), "N_g_m2": num("n_g_m2")}
    return wl, R, sp, d
