import csv, numpy as np
P=str(__import__('pathlib').Path(__file__).resolve().parents[4] / 'shared/realdata/leaf-nitrogen/ely2019_dev_species/ely2019_dev_species.csv')
def load():
    rows=list(csv.reader(open(P)))
    h=rows[0]; wi=[i for i,c in enumerate(h) if c.startswith('Wave_')]
    wl=np.array([float(h[i][5:]) for i in wi])
    sp=np.array([r[0] for r in rows[1:]])
    num=lambda c: np.array([float(r[h.index(c)]) if r[h.index(c)] not in ('','NA') else np.nan for r in rows[1:]])
    d={c:num(c) for c in ['C_N_mass','C_g_m2','H20_g_m2','LMA_g_m2','N_g_m2']}
    R=np.array([[float(r[i]) for i in wi] for r in rows[1:]])/100
    return wl,R,sp,d
