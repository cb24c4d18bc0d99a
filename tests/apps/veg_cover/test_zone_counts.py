"""Zone counts leave out edge slivers (issue 11 bug 8: "zone counts include 2-px sliver zones")."""

import numpy as np

from edgeinv.apps.veg_cover.interpret import ZoneGrid, ZoneRules, summarise


def test_edge_slivers_are_not_counted_as_zones():
    h = w = 402  # 100 px zones: 4 x 4 full zones and a 2-px sliver row and column (9 slivers)
    cover = np.full((h, w), 0.1, np.float32)
    g = ZoneGrid(height=h, width=w, zone_px=100)
    g.add(row=0, col=0, cover=cover, valid=np.ones_like(cover, bool), std=np.full_like(cover, 0.03))
    res = summarise(grid=g, rules=ZoneRules(), source="a.png", method="model", config="rgb",
                    georeferenced=False, crs=None, transform=None, gsd_m=None)
    d = res.to_dict()
    assert len(res.zones) == 25
    assert d["n_zones"] == 16 and d["n_zones_not_judged"] == 9 and d["n_flagged"] == 16
    assert "16 zones of 100 px; 16 flagged" in res.summary() and "9 edge or no-data slivers" in res.summary()
