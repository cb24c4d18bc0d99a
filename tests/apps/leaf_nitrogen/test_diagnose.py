"""diagnose-real: the per-species ceilings and the real-vs-PROSPECT mismatch, on tables whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinv.apps.leaf_nitrogen.diagnose import diagnose
from edgeinv.apps.leaf_nitrogen.physics import prospect_pro
from edgeinv.common.errors import InvalidInputError

WL = np.arange(500.0, 2401.0, 2.0)
FACTOR = 4.43


def _table(path, *, odd_species=None, protein_scale=1.0, lma_column=True):
    """Two species of 5 PROSPECT-PRO leaves each, from their own chemistry; in ``odd_species`` something absorbs
    like protein (spectra with ``protein_scale`` times the labelled protein)."""
    rng = np.random.default_rng(3)
    header = ["Species_Code", "C_g_m2", "H20_g_m2"] + (["LMA_g_m2"] if lma_column else []) + ["N_g_m2"]
    header += [f"Wave_{int(w)}" for w in WL]
    lines = [",".join(header)]
    for species in ("AAA", "BBB"):
        for _ in range(5):
            n_area, lma, h2o = rng.uniform(0.6, 2.4), rng.uniform(30, 60), rng.uniform(100, 200)
            prot = n_area * FACTOR / 1e4
            scale = protein_scale if species == odd_species else 1.0
            _, r, _ = prospect_pro(n_struct=rng.uniform(1.3, 1.8), chlorophyll_ug_cm2=rng.uniform(20, 50),
                                   carotenoid_ug_cm2=8.0, ewt_g_cm2=h2o / 1e4, protein_g_cm2=scale * prot,
                                   cbc_g_cm2=lma / 1e4 - prot, wavelength_nm=WL)
            row = [species, f"{0.42 * lma:.3f}", f"{h2o:.3f}"] + ([f"{lma:.3f}"] if lma_column else [])
            row += [f"{n_area:.4f}"] + [f"{100 * v:.5f}" for v in r]  # percent, as the EcoSIS tables
            lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_spectra_the_model_explains_have_no_mismatch_and_a_high_ceiling(tmp_path):
    rep = diagnose(_table(tmp_path / "t.csv"), n_to_protein=FACTOR)
    for d in rep["species"].values():
        assert d["real"]["r2"] > 0.9 and d["perfect_physics"]["r2"] > 0.9
        assert abs(d["mismatch_by_band"]["2100-2180 (protein)"]["mean"]) < 5e-4
    assert "physics ceiling" in rep["text"]


def test_a_species_specific_absorber_shows_up_as_that_species_bias_and_mismatch(tmp_path):
    rep = diagnose(_table(tmp_path / "t.csv", odd_species="BBB", protein_scale=1.3), n_to_protein=FACTOR)
    a, b = rep["species"]["AAA"], rep["species"]["BBB"]
    assert abs(a["real"]["bias"]) < 0.05
    # 30 % more protein-like absorption than the labels: N read ~30 % high, explained by the species-mean mismatch
    assert b["real"]["bias"] > 0.2
    assert b["model_plus_species_mean_mismatch"]["bias"] == pytest.approx(b["real"]["bias"], abs=0.1)
    assert b["mismatch_by_band"]["2100-2180 (protein)"]["mean"] < 0.0


def test_a_table_without_lma_is_refused_with_a_reason(tmp_path):
    with pytest.raises(InvalidInputError, match="LMA_g_m2"):
        diagnose(_table(tmp_path / "t.csv", lma_column=False), n_to_protein=FACTOR)


def test_cli_diagnose_real_prints_json_and_refuses_a_missing_table(tmp_path, capsys):
    import json

    from edgeinv.common.cli import main

    path = _table(tmp_path / "t.csv")
    assert main(["--json", "leaf-nitrogen", "diagnose-real", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["species"]) == {"AAA", "BBB"} and "text" in doc
    assert main(["leaf-nitrogen", "diagnose-real", str(tmp_path / "missing.csv")]) == 2
    assert "no such table" in capsys.readouterr().err
