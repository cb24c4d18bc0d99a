"""The leaf-nitrogen CLI: simulate (with PROSPECT's --n), predict --json (always a list), finetune."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeinv.apps.leaf_nitrogen.io import read_spectra
from edgeinv.common.cli import main

SIM = ["leaf-nitrogen", "simulate", "--n", "1.6", "--cab", "45", "--car", "9", "--anth", "0.5", "--cbrown", "0",
       "--cw", "0.016", "--prot", "0.0009", "--cbc", "0.0045"]


def _json(capsys, argv):
    code = main(["--json", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_simulate_writes_the_requested_leaf(tmp_path, capsys):
    path = tmp_path / "leaf.csv"
    code, doc = _json(capsys, [*SIM, "--out", str(path)])
    assert code == 0
    w = doc["written"][0]
    assert w["traits"]["n_struct"] == 1.6 and w["traits"]["protein_g_cm2"] == 0.0009
    assert w["nitrogen_g_m2"] == pytest.approx(9.0 / 4.43, rel=1e-6)
    assert path.read_text().splitlines()[0] == "wavelength_nm,reflectance,transmittance"
    (leaf,) = read_spectra(path)
    assert leaf.wavelength_nm[0] == 400 and leaf.wavelength_nm[-1] == 2500 and leaf.transmittance is not None


def test_simulate_count_and_sensor(tmp_path, capsys):
    code, doc = _json(capsys, ["leaf-nitrogen", "simulate", "--count", "2", "--sensor", "vnir", "--seed", "3",
                               "--out", str(tmp_path / "v.csv")])
    assert code == 0 and len(doc["written"]) == 2
    (leaf,) = read_spectra(doc["written"][1]["path"])
    assert leaf.wavelength_nm[-1] < 1003 and np.median(np.diff(leaf.wavelength_nm)) < 2


def test_simulate_rejects_bad_values(tmp_path, capsys):
    code = main(["leaf-nitrogen", "simulate", "--n", "0.5", "--out", str(tmp_path / "x.csv")])
    assert code != 0 and "N must be >= 1" in capsys.readouterr().err


def test_predict_json_is_a_list_with_uncertainties(tmp_path, capsys):
    path = tmp_path / "leaf.csv"
    assert main([*SIM, "--out", str(path)]) == 0
    capsys.readouterr()
    code, doc = _json(capsys, ["leaf-nitrogen", "predict", str(path)])
    assert code == 0 and isinstance(doc, list) and len(doc) == 1
    leaf = doc[0]
    for key in ("nitrogen_g_m2", "protein_g_cm2", "chlorophyll_ug_cm2"):
        assert leaf[key] > 0 and leaf[f"{key}_std"] > 0
    assert leaf["sample"] == "leaf" and leaf["config"] == "full"
    assert leaf["nitrogen_g_m2"] == pytest.approx(9.0 / 4.43, rel=0.15)  # the shipped model, noise-free leaf
    assert leaf["chlorophyll_ug_cm2"] == pytest.approx(45, rel=0.1)
    code, doc = _json(capsys, ["leaf-nitrogen", "predict", str(path), "--n-to-protein", "6.25", "--sensor", "vnir"])
    assert doc[0]["config"] == "vnir" and doc[0]["n_to_protein"] == 6.25 and doc[0]["flags"]


def test_predict_bad_file_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("wavelength,leaf\n400,0.1\n401,oops\n")
    code = main(["leaf-nitrogen", "predict", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "not a number" in err and "Traceback" not in err


def test_finetune_then_predict_with_the_new_model(tmp_path, capsys):
    """`finetune` is the core calibration path (issue 9): same split, same release, N-per-area figures added."""
    pytest.importorskip("torch")
    site = tmp_path / "site"
    assert main(["leaf-nitrogen", "simulate-site", "--out", str(site), "--leaves", "12", "--seed", "4"]) == 0
    capsys.readouterr()
    out = tmp_path / "ft"
    code, rep = _json(capsys, ["leaf-nitrogen", "finetune", str(site / "spectra.csv"), "--labels",
                               str(site / "labels.csv"), "--out", str(out), "--epochs", "3", "--n-sim", "200",
                               "--holdout-fraction", "0.25"])
    # 3 held out; of the other 9, a quarter (2) validate early stopping and are not trained on
    assert code == 0 and rep["trained_on"] == 7 and rep["validated_on"] == 2 and rep["held_out"] == 3
    assert rep["options"]["n_sim"] == 200 and rep["options"]["epochs"] == 3  # the core's report
    n = rep["nitrogen"]
    assert n["heldout"]["after"]["n"] == 3 and n["train"]["after"]["n"] == 7
    # N per area is the protein error through the factor: RMSE(N) = RMSE(protein) * 1e4 / 4.43
    prot = rep["heldout"]["after"]["protein_g_cm2"]["rmse"]
    assert n["heldout"]["after"]["nitrogen_rmse_g_m2"] == pytest.approx(prot * 1e4 / 4.43)
    manifest = json.loads((out / "leaf_nitrogen" / "manifest.json").read_text())
    assert manifest["configs"]["full"]["chosen"] == "calibrated_fp32" and "calibration" in manifest["configs"]["full"]
    code, doc = _json(capsys, ["leaf-nitrogen", "predict", str(site / "spectra.csv"), "--model", str(out)])
    assert code == 0 and len(doc) == 12 and all(d["nitrogen_g_m2"] > 0 for d in doc)
    labels = tmp_path / "labels_bad.csv"
    labels.write_text("sample,nitrogen_g_m2\nnot_there,2.0\n")
    code = main(["leaf-nitrogen", "finetune", str(site / "spectra.csv"), "--labels", str(labels), "--out", str(out)])
    assert code == 2 and "not in the spectra file" in capsys.readouterr().err
    code = main(["leaf-nitrogen", "finetune", str(site / "spectra.csv"), "--labels", str(site / "labels.csv"),
                 "--out", str(out), "--n-to-protein", "0"])
    assert code == 2 and "n-to-protein" in capsys.readouterr().err


def test_finetuning_improves_held_out_leaves_of_another_site(tmp_path, capsys):
    """Stand-in for real leaves: the simulated "site" (other Chl/N ratio, protein share and clip calibration)."""
    pytest.importorskip("torch")
    site = tmp_path / "site"
    assert main(["leaf-nitrogen", "simulate-site", "--out", str(site), "--leaves", "60", "--seed", "1"]) == 0
    capsys.readouterr()
    code, rep = _json(capsys, ["leaf-nitrogen", "finetune", str(site / "spectra.csv"), "--labels",
                               str(site / "labels.csv"), "--out", str(tmp_path / "ft"), "--epochs", "15",
                               "--n-sim", "1500", "--holdout-fraction", "0.6"])
    assert code == 0 and rep["held_out"] == 36
    before, after = rep["nitrogen"]["heldout"]["before"], rep["nitrogen"]["heldout"]["after"]
    assert after["nitrogen_rmse_g_m2"] < before["nitrogen_rmse_g_m2"]
    assert abs(after["nitrogen_bias_g_m2"]) < 0.5 * abs(before["nitrogen_bias_g_m2"])
    sim = rep["nitrogen"]["simulated_check"]  # no forgetting of the simulated domain beyond 10 %
    assert sim["after"]["nitrogen_rmse_g_m2"] < 1.1 * sim["before"]["nitrogen_rmse_g_m2"]


def test_finetune_holds_out_a_whole_group_through_the_core_path(tmp_path, capsys):
    pytest.importorskip("torch")
    site = tmp_path / "site"
    assert main(["leaf-nitrogen", "simulate-site", "--out", str(site), "--leaves", "12", "--seed", "5"]) == 0
    capsys.readouterr()
    rows = (site / "labels.csv").read_text().splitlines()
    grouped = [rows[0] + ",species"] + [f"{r},{'a' if i < 4 else 'b'}" for i, r in enumerate(rows[1:])]
    (site / "grouped.csv").write_text("\n".join(grouped) + "\n")
    code, rep = _json(capsys, ["leaf-nitrogen", "finetune", str(site / "spectra.csv"), "--labels",
                               str(site / "grouped.csv"), "--out", str(tmp_path / "ft"), "--epochs", "2",
                               "--n-sim", "100", "--holdout-group", "a"])
    assert code == 0 and rep["holdout"] == "group 'a'" and rep["held_out"] == 4 and rep["groups"] == ["a", "b"]
    assert rep["nitrogen"]["heldout"]["before"]["n"] == 4
    # issue 14: the report says how many leaves of each species it has, and which have fewer than advised
    assert "labelled leaves per species: a 4, b 8" in rep["text"] and "fewer than 5 here: a" in rep["text"]
    code = main(["leaf-nitrogen", "finetune", str(site / "spectra.csv"), "--labels", str(site / "grouped.csv"),
                 "--out", str(tmp_path / "ft"), "--holdout-group", "zz"])
    assert code == 2 and "no such group" in capsys.readouterr().err
