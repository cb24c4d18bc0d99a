"""Readers and writers for leaf spectra: the CSV/text exports of field spectrometers and their software.

Accepted layout (one file, one or many leaves)::

    wavelength,leaf1,leaf2,leaf2_T         <- header (optional); delimiter , ; tab or spaces
    400,0.0612,0.0587,0.0123               <- wavelength in nm, then one column per leaf
    401,0.0609,0.0590,0.0121

* The wavelength column is the one named ``wavelength``, ``wavelength_nm``, ``wavelength (nm)``,
  ``wl``, ``nm``, ``lambda`` or ``wvl`` (any case), else the first column. Wavelengths must be in
  nm, strictly increasing (a strictly decreasing file is flipped), 300-2600 nm.
* Every other column is one leaf's reflectance, named by its header (the sample id). Columns whose
  name ends in ``_T``/``_t``/``_trans``/``_transmittance`` (or is ``transmittance``) are that leaf's
  transmittance: ``leaf2_T`` pairs with ``leaf2`` or ``leaf2_R``; ``transmittance`` pairs with
  ``reflectance`` (the layout ``edgeinv leaf-nitrogen simulate`` writes; the leaf is then named
  after the file). A reflectance column may carry ``_R``/``_refl``/``_reflectance``.
* Reflectance as a fraction (0-1) or in percent (0-100): percent is detected when a column's
  largest value exceeds 1.5 (a green leaf reflects 40-60 % in the NIR), per file.
* Lines starting with ``#`` are comments. Anything else — empty, truncated rows, text in a number
  field, NaN/inf, non-monotonic wavelengths, values outside the physical range, files over the size
  limit — raises an :mod:`edgeinv.common.errors` error that names the problem.
"""

from __future__ import annotations

import csv
import io as _io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeinv.common.errors import InvalidInputError, PayloadTooLargeError, UnsupportedFormatError
from edgeinv.common.textio import numeric_table

MAX_BYTES = 32 * 1024 * 1024
MAX_LEAVES = 2000
MAX_LINES = 200_000  # 1 nm from 350 to 2500 nm is 2 151 rows; 0.1 nm exports stay far below this
MAX_LINE_CHARS = 120_000  # 2 000 leaf columns; under the csv module's 131 072-character field limit
MIN_BANDS = 20
WAVELENGTH_NAMES = {"wavelength", "wavelength_nm", "wavelengthnm", "wavelength(nm)", "wavelength[nm]",
                    "wl", "nm", "lambda", "wvl", "wave", "wavelengths"}
_T_SUFFIX = re.compile(r"^(?P<base>.+?)[ _\-.](?:t|trans|transmittance)$", re.IGNORECASE)
_R_SUFFIX = re.compile(r"^(?P<base>.+?)[ _\-.](?:r|refl|reflectance)$", re.IGNORECASE)


@dataclass
class LeafSpectrum:
    """One leaf's measured spectrum.

    ``wavelength_nm`` (L,) increasing; ``reflectance`` (L,) as a fraction; ``transmittance`` (L,)
    or None. ``sample`` is the leaf's id (the column name). ``truth`` holds the simulated traits
    for simulated leaves (empty for real files). ``meta`` records reader decisions (e.g. percent).
    """

    sample: str
    wavelength_nm: np.ndarray
    reflectance: np.ndarray
    transmittance: np.ndarray | None = None
    source: str = ""
    truth: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def _load_text(source, *, max_bytes: int) -> tuple[str, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw, name = bytes(source), ""
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidInputError(f"no such file: {path}")
        size = path.stat().st_size
        if size > max_bytes:
            raise PayloadTooLargeError(f"{path.name} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
        raw, name = path.read_bytes(), path.name
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"the upload is {len(raw) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
    if not raw.strip():
        raise InvalidInputError("the spectrum file is empty")
    from edgeinv.common.limits import check_text

    # a spectrum export has a few thousand rows of short fields: bound both before parsing anything
    check_text(raw, name or "the spectrum file", max_lines=MAX_LINES, max_field=MAX_LINE_CHARS)
    if b"\x00" in raw[:4096]:
        raise UnsupportedFormatError("this is a binary file, not a CSV/text spectrum export",
                                     hint="export the spectra as CSV (wavelength column + one column per leaf)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text, name


def _data_lines(text: str) -> tuple[list[str], str | None]:
    """The lines that are neither blank nor comments, and their delimiter (the most frequent of ``,`` ``;`` tab in
    the first 20; None: whitespace)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InvalidInputError("the spectrum file holds only comments or blank lines")
    sample = "\n".join(lines[:20])
    counts = {d: sample.count(d) for d in (",", ";", "\t")}
    delim = max(counts, key=counts.get)
    return lines, (delim if counts[delim] else None)


def _split_rows(lines: list[str], delim: str | None) -> list[list[str]]:
    if delim is None:
        return [ln.split() for ln in lines]
    return [[c.strip() for c in row] for row in csv.reader(_io.StringIO("\n".join(lines)), delimiter=delim)]


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _to_float(cell: str, line: int, column: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise InvalidInputError(f"line {line}, column {column!r}: {cell!r} is not a number") from None


def read_table(source, *, max_bytes: int = MAX_BYTES) -> tuple[list[str], np.ndarray, str]:
    """Parse a spectrum CSV into (column names, float table (rows, cols), file name)."""
    text, name = _load_text(source, max_bytes=max_bytes)
    lines, delim = _data_lines(text)
    # a quoted first row: every row by the csv module (a quoted cell may span lines); else the first row split as the
    # csv module splits an unquoted one, and the body by the numeric fast path where it applies
    rows = _split_rows(lines, delim) if '"' in lines[0] else None
    first = rows[0] if rows is not None else _split_rows(lines[:1], delim)[0]
    header_given = not all(_is_number(c) for c in first if c != "")
    if header_given:
        header = first
    else:
        header = ["wavelength"] + [f"leaf{i}" for i in range(1, len(first))]
    header = [h.strip().strip('"') for h in header]
    if rows is None and 2 <= len(header) <= MAX_LEAVES + 1 and len(lines) > header_given:
        table = numeric_table(lines[1:] if header_given else lines, delim, len(header))  # plain numbers
        if table is not None:
            return header, table, name
    rows = rows if rows is not None else _split_rows(lines, delim)
    body = rows[1:] if header_given else rows
    if len(header) < 2:
        raise UnsupportedFormatError("the file has a single column; expected a wavelength column and one "
                                     "reflectance column per leaf")
    if len(header) - 1 > MAX_LEAVES:
        raise PayloadTooLargeError(f"the file holds {len(header) - 1} columns; at most {MAX_LEAVES} leaves per file")
    if not body:
        raise InvalidInputError("the file has a header but no data rows")
    table = np.empty((len(body), len(header)))
    first_line = 2 if header_given else 1
    for i, row in enumerate(body):
        while row and row[-1] == "" and len(row) > len(header):
            row = row[:-1]
        if len(row) != len(header):
            raise InvalidInputError(
                f"line {first_line + i}: {len(row)} fields where the header has {len(header)} (truncated or ragged file)"
            )
        for j, cell in enumerate(row):
            table[i, j] = _to_float(cell, first_line + i, header[j])
    return header, table, name


def _wavelength_column(header: list[str]) -> int:
    for j, h in enumerate(header):
        key = re.sub(r"\s+", "", h.lower())
        if key in WAVELENGTH_NAMES:
            return j
    return 0


def _check_wavelengths(wl: np.ndarray) -> tuple[np.ndarray, bool]:
    if not np.all(np.isfinite(wl)):
        raise InvalidInputError("the wavelength column holds NaN or infinite values")
    if len(wl) < MIN_BANDS:
        raise InvalidInputError(f"only {len(wl)} wavelengths; a leaf spectrum needs at least {MIN_BANDS}")
    d = np.diff(wl)
    flipped = False
    if np.all(d < 0):
        wl, flipped = wl[::-1], True
    elif not np.all(d > 0):
        bad = int(np.argmax(d <= 0)) + 1
        raise InvalidInputError(f"wavelengths must increase strictly; row {bad + 1} ({wl[bad]:g} nm) breaks the order")
    if wl[0] < 300 or wl[-1] > 2600:
        hint = "values look like micrometres; convert to nm" if wl[-1] < 10 else None
        raise InvalidInputError(f"wavelengths run {wl[0]:g}-{wl[-1]:g}; expected nm within 300-2600", hint=hint)
    return wl, flipped


def _to_fraction(name: str, v: np.ndarray, what: str) -> tuple[np.ndarray, bool]:
    if not np.all(np.isfinite(v)):
        bad = int(np.size(v) - np.count_nonzero(np.isfinite(v)))
        raise InvalidInputError(f"{what} column {name!r} holds {bad} NaN or infinite value(s)")
    percent = float(np.max(v)) > 1.5
    if percent:
        v = v / 100.0
    if v.min() < -0.05 or v.max() > 1.0:
        unit = "%" if percent else "fraction"
        raise InvalidInputError(
            f"{what} column {name!r} runs {v.min() * (100 if percent else 1):g}-{v.max() * (100 if percent else 1):g} "
            f"({unit}); a leaf's {what} lies within 0-1 (or 0-100 %)"
        )
    return v, percent


def _pairing(header: list[str], wl_col: int) -> list[tuple[str, int, int | None]]:
    """(sample id, reflectance column, transmittance column or None) for every leaf."""
    trans: dict[str, int] = {}
    refl: list[tuple[str, int]] = []
    for j, h in enumerate(header):
        if j == wl_col:
            continue
        h = h or f"column{j + 1}"
        if h.lower() in ("transmittance", "trans"):
            trans["reflectance"] = j
        elif (m := _T_SUFFIX.match(h)) is not None:
            trans[m.group("base").lower()] = j
        else:
            m = _R_SUFFIX.match(h)
            refl.append((m.group("base") if m else h, j))
    if not refl:
        raise InvalidInputError("no reflectance column found, only a wavelength column" +
                                (" and transmittance" if trans else ""))
    out, used = [], set()
    for base, j in refl:
        key = "reflectance" if base.lower() in ("reflectance", "refl") else base.lower()
        t = trans.get(key)
        if t is not None:
            used.add(t)
        out.append((base, j, t))
    orphans = [header[t] for t in trans.values() if t not in used]
    if orphans:
        raise InvalidInputError(f"transmittance column(s) {', '.join(orphans)} have no matching reflectance column")
    return out


def read_spectra(source, *, filename: str | None = None, max_bytes: int = MAX_BYTES) -> list[LeafSpectrum]:
    """Read every leaf of a spectrum CSV (path or bytes) into :class:`LeafSpectrum` objects."""
    header, table, name = read_table(source, max_bytes=max_bytes)
    name = filename or name
    wl_col = _wavelength_column(header)
    wl, flipped = _check_wavelengths(table[:, wl_col])
    if flipped:
        table = table[::-1]
    stem = Path(name).stem if name else "leaf"
    leaves, seen = [], set()
    for sample, j, t in _pairing(header, wl_col):
        refl, percent = _to_fraction(header[j], table[:, j], "reflectance")
        tran = None
        if t is not None:
            tran, _ = _to_fraction(header[t], table[:, t], "transmittance")
            if np.any(refl + tran > 1.02):
                raise InvalidInputError(f"leaf {sample!r}: reflectance + transmittance exceed 1 (energy conservation)")
        if sample.lower() in ("reflectance", "refl"):
            sample = stem
        if sample in seen:
            raise InvalidInputError(f"two columns name the same leaf {sample!r}")
        seen.add(sample)
        leaves.append(LeafSpectrum(sample=sample, wavelength_nm=wl.copy(), reflectance=refl, transmittance=tran,
                                   source=name, meta={"percent": percent}))
    return leaves


def write_spectrum_csv(path, *, wavelength_nm, reflectance, transmittance=None) -> Path:
    """Write one leaf as ``wavelength_nm,reflectance[,transmittance]`` (fractions, 6 decimals)."""
    path = Path(path)
    cols = [np.asarray(wavelength_nm, float), np.asarray(reflectance, float)]
    names = ["wavelength_nm", "reflectance"]
    if transmittance is not None:
        cols.append(np.asarray(transmittance, float))
        names.append("transmittance")
    data = np.column_stack(cols)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, data, delimiter=",", header=",".join(names), comments="", fmt=["%g"] + ["%.6f"] * (len(cols) - 1))
    return path


def write_leaves_csv(path, leaves: list[LeafSpectrum]) -> Path:
    """Write several leaves on a common wavelength axis: ``wavelength_nm,<sample>,...``."""
    path = Path(path)
    wl = leaves[0].wavelength_nm
    cols, names = [wl], ["wavelength_nm"]
    for leaf in leaves:
        if len(leaf.wavelength_nm) != len(wl) or not np.allclose(leaf.wavelength_nm, wl):
            raise InvalidInputError("write_leaves_csv: all leaves must share one wavelength axis")
        cols.append(leaf.reflectance)
        names.append(leaf.sample)
        if leaf.transmittance is not None:
            cols.append(leaf.transmittance)
            names.append(f"{leaf.sample}_T")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.column_stack(cols), delimiter=",", header=",".join(names), comments="",
               fmt=["%g"] + ["%.6f"] * (len(cols) - 1))
    return path
