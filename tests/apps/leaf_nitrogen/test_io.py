"""Spectrum CSV readers: the layouts field spectrometers export, and clear errors for everything else."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinv.apps.leaf_nitrogen import io
from edgeinv.apps.leaf_nitrogen.physics import prospect_pro
from edgeinv.common.errors import InvalidInputError, PayloadTooLargeError, UnsupportedFormatError

WL = np.arange(400, 2501, 5)


def _leaf(cab=40.0):
    _, r, t = prospect_pro(n_struct=1.5, chlorophyll_ug_cm2=cab, carotenoid_ug_cm2=8, ewt_g_cm2=0.012,
                           protein_g_cm2=0.001, cbc_g_cm2=0.004, wavelength_nm=WL)
    return r, t


def _csv(header, cols, delim=",", fmt="{:.6f}"):
    lines = [delim.join(header)] if header else []
    for row in zip(*cols):
        lines.append(delim.join(f"{row[0]:g}" if i == 0 else fmt.format(v) for i, v in enumerate(row)))
    return ("\n".join(lines) + "\n").encode()


def test_several_leaves_with_transmittance_and_fraction():
    r1, t1 = _leaf(30)
    r2, _ = _leaf(50)
    data = _csv(["wavelength", "leaf1", "leaf1_T", "leaf2"], [WL, r1, t1, r2])
    leaves = io.read_spectra(data, filename="plot7.csv")
    assert [lf.sample for lf in leaves] == ["leaf1", "leaf2"]
    np.testing.assert_allclose(leaves[0].reflectance, r1, atol=1e-6)
    np.testing.assert_allclose(leaves[0].transmittance, t1, atol=1e-6)
    assert leaves[1].transmittance is None and leaves[0].meta["percent"] is False
    np.testing.assert_array_equal(leaves[0].wavelength_nm, WL)


@pytest.mark.parametrize("delim,wl_name", [(",", "Wavelength (nm)"), (";", "wl"), ("\t", "lambda"), (" ", "nm")])
def test_delimiters_percent_and_wavelength_column_by_name(delim, wl_name):
    r, _ = _leaf()
    # the wavelength column is found by its name even when it is not the first column
    lines = [delim.join(["A1", wl_name, "B2"])]
    lines += [delim.join([f"{100 * v:.4f}", f"{w:g}", f"{100 * v:.4f}"]) for w, v in zip(WL, r)]
    leaves = io.read_spectra("\n".join(lines).encode())
    assert [lf.sample for lf in leaves] == ["A1", "B2"]
    assert leaves[0].meta["percent"] is True
    np.testing.assert_allclose(leaves[0].reflectance, r, atol=1e-6)
    np.testing.assert_array_equal(leaves[0].wavelength_nm, WL)


def test_simulate_layout_names_the_leaf_after_the_file(tmp_path):
    r, t = _leaf()
    path = io.write_spectrum_csv(tmp_path / "myleaf.csv", wavelength_nm=WL, reflectance=r, transmittance=t)
    (leaf,) = io.read_spectra(path)
    assert leaf.sample == "myleaf" and leaf.transmittance is not None


def test_no_header_descending_wavelengths_and_comments():
    r, _ = _leaf()
    rows = "\n".join(f"{w},{v:.6f}" for w, v in zip(WL[::-1], r[::-1]))
    (leaf,) = io.read_spectra(("# exported by ViewSpec\n# units: reflectance\n" + rows).encode(), filename="x.txt")
    assert leaf.sample == "leaf1"
    np.testing.assert_array_equal(leaf.wavelength_nm, WL)
    np.testing.assert_allclose(leaf.reflectance, r, atol=1e-6)


def test_write_leaves_roundtrip(tmp_path):
    r1, t1 = _leaf(20)
    r2, _ = _leaf(60)
    leaves = [io.LeafSpectrum("a", WL, r1, t1), io.LeafSpectrum("b", WL, r2)]
    back = io.read_spectra(io.write_leaves_csv(tmp_path / "two.csv", leaves))
    assert [lf.sample for lf in back] == ["a", "b"]
    np.testing.assert_allclose(back[0].transmittance, t1, atol=1e-6)


GOOD = _csv(["wavelength", "leaf1"], [WL, _leaf()[0]]).decode()


@pytest.mark.parametrize(
    "payload,err,match",
    [
        (b"", InvalidInputError, "empty"),
        (b"   \n\n", InvalidInputError, "empty"),
        (b"# only a comment\n", InvalidInputError, "only comments"),
        (b"wavelength,leaf1\n", InvalidInputError, "no data rows"),
        (b"\x00\x01\x02binary" * 50, UnsupportedFormatError, "binary"),
        (b"wavelength\n400\n401\n", UnsupportedFormatError, "single column"),
        (GOOD.rsplit("\n", 2)[0] + "\n2500\n", InvalidInputError, "truncated"),
        (GOOD.replace("0.", "abc", 1), InvalidInputError, "not a number"),
        (GOOD.replace(GOOD.splitlines()[5].split(",")[1], "nan"), InvalidInputError, "NaN"),
        (GOOD.replace(GOOD.splitlines()[5].split(",")[1], "inf"), InvalidInputError, "NaN or infinite"),
        (GOOD.replace("\n420,", "\n410,"), InvalidInputError, "increase strictly"),
        (GOOD.replace(GOOD.splitlines()[5].split(",")[1], "1.3"), InvalidInputError, "within 0-1"),
        (GOOD.replace(GOOD.splitlines()[5].split(",")[1], "-0.2"), InvalidInputError, "within 0-1"),
        ("wavelength,leaf1\n" + "\n".join(f"{w / 1000:g},0.3" for w in WL), InvalidInputError, "micrometres"),
        ("wavelength,leaf1\n400,0.1\n401,0.1\n402,0.1\n", InvalidInputError, "at least"),
        (GOOD.replace("leaf1", "leaf1,ghost_T").replace("\n", ",0.1\n").replace("ghost_T,0.1", "ghost_T", 1),
         InvalidInputError, "no matching reflectance"),
        ("wavelength,a,a\n" + "\n".join(f"{w},0.3,0.3" for w in WL), InvalidInputError, "same leaf"),
    ],
)
def test_broken_files_give_clear_errors(payload, err, match):
    data = payload.encode() if isinstance(payload, str) else payload
    with pytest.raises(err, match=match):
        io.read_spectra(data, filename="bad.csv")


def test_energy_conservation_checked():
    r, _ = _leaf()
    data = _csv(["wavelength", "x", "x_T"], [WL, r, np.full_like(r, 0.9)])
    with pytest.raises(InvalidInputError, match="exceed 1"):
        io.read_spectra(data)


def test_oversized_inputs(tmp_path):
    with pytest.raises(PayloadTooLargeError):
        io.read_spectra(GOOD.encode(), max_bytes=100)
    path = tmp_path / "big.csv"
    path.write_text(GOOD)
    with pytest.raises(PayloadTooLargeError):
        io.read_spectra(path, max_bytes=100)
    wide = "wavelength," + ",".join(f"l{i}" for i in range(io.MAX_LEAVES + 1)) + "\n400," + ",".join(["0.1"] * (io.MAX_LEAVES + 1))
    with pytest.raises(PayloadTooLargeError, match="leaves"):
        io.read_spectra(wide.encode())


def test_missing_file():
    with pytest.raises(InvalidInputError, match="no such file"):
        io.read_spectra("/nonexistent/leaf.csv")


def test_numeric_fast_path_equals_the_cell_by_cell_parse(monkeypatch):
    """Plain numeric bodies are read by np.loadtxt (issue 13, stop 29); the table, header and every error are the
    cell-by-cell parse's, for clean files and for each way a file can leave the fast path."""
    r, t = _leaf()
    clean = _csv(["wavelength_nm", "reflectance", "transmittance"], [WL, r, t]).decode()
    inputs = [clean, clean.replace(",", ";"), clean.replace(",", "\t"), clean.replace(",", "  "),
              "\n".join(clean.splitlines()[1:]), "# exported\n" + clean.replace("\n", "\r\n"),
              clean.replace("reflectance", '"reflectance"'), clean.replace(",", ", "), clean + "\n\n"]
    lines = clean.splitlines()
    for i, bad in ((5, "405,0.04"), (7, '407,"0.04",0.001'), (9, "409,0.04,0.001,"), (11, "411,nan,0.001"),
                   (13, "413,1_0,0.001"), (15, "415,abc,0.001"), (17, "# a comment"), (19, "419,0.04,0.001,0.5"),
                   (21, "421,,0.001"), (23, "423,0x10,0.001"), (25, "425,inf,0.001")):
        inputs.append("\n".join(lines[:i] + [bad] + lines[i + 1:]) + "\n")

    def parse(text):
        try:
            header, table, name = io.read_table(text.encode())
            return "ok", header, table.tobytes(), name
        except Exception as exc:  # noqa: BLE001 (the same error either way is the point)
            return "error", type(exc).__name__, str(exc)

    taken = []
    numeric_table = io.numeric_table
    monkeypatch.setattr(io, "numeric_table", lambda *a: taken.append(numeric_table(*a) is not None) or numeric_table(*a))
    fast = [parse(text) for text in inputs]
    assert sum(r[0] == "ok" for r in fast) >= 9 and sum(r[0] == "error" for r in fast) >= 4
    assert sum(taken) >= 8 and not all(taken)  # the clean files went the fast way, the odd ones not
    monkeypatch.setattr(io, "numeric_table", lambda *a, **k: None)
    assert [parse(text) for text in inputs] == fast
