"""Issue 15 trial script: a classical unmixing of camera counts from the image's own clusters, measured, not taken.

Per coarse frame (``real_gsd.coarse_frame``): the image's two-cluster levels (``radiometry.image_levels``) and per
pixel the coordinate along Fisher's discriminant, 0 at the background level and 1 at the vegetation level, clipped
to 0..1 and averaged ("unmix"; on the encoded counts and, for RGB, on sRGB-decoded linear counts), and the share of
pixels on the vegetation side of the split ("split"). No free parameter. Columns: MAE, bias, within 0.03.

    python docs/apps/veg_cover_trials/gsd_cluster_unmix.py sim 100003 40   # held-out simulated frames, k = 1..16
    python docs/apps/veg_cover_trials/gsd_cluster_unmix.py real            # the real frames, 0.5-8 cm

Figures in docs/apps/veg_cover.md ("Cover at any ground resolution").
"""
import sys, json, csv, numpy as np
from pathlib import Path
from edgeinv.apps.veg_cover.app import APP
from edgeinv.apps.veg_cover.cameras import get_camera
from edgeinv.apps.veg_cover.sim.fine_scene import render_fine
from edgeinv.apps.veg_cover.real_gsd import coarse_frame, block_mean, srgb_to_linear
from edgeinv.apps.veg_cover.radiometry import image_levels, discriminant
from edgeinv.apps.veg_cover.real_eval import _read_mask
from edgeinv.apps.veg_cover.features import select_bands
def est(data, fine):
    s = APP.read(data, filename="x.png").load()
    names = ("red","green","blue") if fine=="rgb_fine" else ("red","nir")
    b = select_bands(s.bands, s.band_names, fine).astype(np.float64)
    out = {}
    for lin in (False, True):
        x = srgb_to_linear(b) if (lin and fine=="rgb_fine") else b
        lv = image_levels(x, names)
        t = discriminant(x, lv) if lv.weights is not None else None
        out[f"unmix_lin{int(lin)}"] = float(np.clip(t,0,1).mean()) if t is not None else None
        out[f"split_lin{int(lin)}"] = float(lv.veg_share)
    return out
mode = sys.argv[1]
rows = []
if mode == "sim":
    rng = np.random.default_rng(int(sys.argv[2]))
    for cam_name, fine in (("red_nir","red_nir_fine"),("rgb","rgb_fine")):
        cam = get_camera(cam_name)
        for i in range(int(sys.argv[3])):
            bands, truth, info = render_fine(camera=cam, shape_px=(256,256), rng=rng)
            for k in (1,2,4,8,16):
                t = float(block_mean(truth.astype(np.float64), k).mean())
                rows.append({"set": cam_name, "k": k, "truth": t, **est(coarse_frame(bands, cam.bands, k), fine)})
else:
    root = Path(__file__).resolve().parents[3].parent / "shared" / "realdata" / "veg-cover"
    for rec in csv.DictReader(open(root/"fvc_labels.csv")):
        s = APP.read(root/rec["image"]).load()
        mask = _read_mask(root/rec["mask"], float(rec["true_fvc"]), (s.height, s.width))
        fine = "rgb_fine" if "green" in s.band_names else "red_nir_fine"
        for g in (0.5,1,2,4,8):
            k = int(round(g*10/0.5))
            t = float(block_mean(mask.astype(np.float64), k).mean())
            rows.append({"set": rec["dataset"], "k": g, "truth": t, **est(coarse_frame(s.bands, s.band_names, k), fine)})
json.dump(rows, open(f"/tmp/vg/proto_{mode}.json","w"))
keys = ["unmix_lin0","unmix_lin1","split_lin0","split_lin1"]
for st in dict.fromkeys(r["set"] for r in rows):
    for k in dict.fromkeys(r["k"] for r in rows):
        rs = [r for r in rows if r["set"]==st and r["k"]==k]
        line = []
        for key in keys:
            e = np.array([(r[key] if r[key] is not None else np.nan) - r["truth"] for r in rs])
            line.append(f"{key} {np.nanmean(np.abs(e)):.4f} {np.nanmean(e):+.3f} {np.sum(np.abs(e)<=.03)}/{len(e)}")
        print(st[:8], k, " | ".join(line))
