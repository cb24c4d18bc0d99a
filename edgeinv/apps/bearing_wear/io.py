"""Readers (and example writers) for the vibration files technicians have: WAV, CSV, .npy/.npz, MATLAB .mat.

Every reader returns one :class:`Recording` (acceleration in g, sampling rate, shaft speed, bearing
geometry) or raises an :mod:`edgeinv.common.errors` error that says what is wrong:
``UnsupportedFormatError`` (not a format we read), ``MissingMetadataError`` (no sampling rate or
speed in the file and none given), ``PayloadTooLargeError`` (more than ``max_samples``),
``InvalidInputError`` (empty, truncated, NaN/inf, too short for one analysis window).

Metadata in files
-----------------
* WAV (any rate, any sub-type soundfile reads): ``fs`` from the header; speed and bearing from the
  comment tag, e.g. ``rpm=1797; bearing=6205-2rs; units=g`` (what :func:`write_example` writes).
* CSV: one column of values, or a time column (s; ``ms`` in its header means milliseconds) and one
  or more value columns, with or without a header row, separated by ``,``, ``;``, tab or spaces.
  ``fs`` is ``1 / median(diff(time))``. Comment lines ``# rpm=1797, fs_hz=12000, bearing=6203``
  carry metadata.
* .npy: a 1-D array (or 2-D, one channel per column); fs and rpm from flags. .npz: arrays
  ``signal`` plus optional scalars ``fs_hz``/``fs``, ``rpm``.
* .mat (MATLAB v4–v7; :mod:`.matfile`): the CWRU Bearing Data Center layout (``X097_DE_time``,
  ``X097_FE_time``, ``X097_BA_time``, ``X097RPM``; drive end by default, fs must be given unless a
  variable ``fs``/``Fs``/``fs_hz``/``sampling_rate`` exists); the MFPT struct layout
  (``bearing.gs``, fs from ``bearing.sr``, shaft rate from ``bearing.rate``, geometry up to scale
  from the file's BPFO/BPFI/BSF; a missing field is named); or one signal variable of any name.

Flags given by the user (``fs_hz``, ``rpm``) override what the file says.
"""

from __future__ import annotations

import io as _io
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeinv.common.errors import (ConfigError, InvalidInputError, MissingMetadataError, PayloadTooLargeError,
                                   UnsupportedFormatError, check_finite)
from edgeinv.common.textio import numeric_table

from .features import split_windows
from .physics import BearingGeometry, get_geometry

DEFAULT_MAX_SAMPLES = 20_000_000  # ~7 min at 48 kHz; configurable per call (max_samples=...)
G = 9.80665
SUFFIXES = {".wav": "wav", ".flac": "wav", ".ogg": "wav", ".csv": "csv", ".txt": "csv", ".tsv": "csv",
            ".npy": "npy", ".npz": "npz", ".mat": "mat"}


@dataclass
class Recording:
    """One accelerometer recording: the sample type of the bearing-wear app."""

    signal: np.ndarray  # float32, acceleration in g
    fs_hz: float
    rpm: float
    geometry: BearingGeometry
    source: str = ""
    channel: str = ""
    truth: dict | None = None  # ground truth of simulated recordings
    meta: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.signal) / self.fs_hz


def detect_format(data: bytes, filename: str | None) -> str:
    """Format name from the file suffix, else from the first bytes."""
    if filename:
        suffix = Path(filename).suffix.lower()
        if suffix in SUFFIXES:
            return SUFFIXES[suffix]
    head = data[:128]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE" or head[:4] in (b"fLaC", b"OggS"):
        return "wav"
    if head[:6] == b"\x93NUMPY":
        return "npy"
    if head[:4] == b"PK\x03\x04":
        return "npz"
    if head[:6] == b"MATLAB" or head[:4] == b"\x89HDF":
        return "mat"
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text and any(ch.isdigit() for ch in text):
        return "csv"
    raise UnsupportedFormatError(
        f"{filename or 'upload'}: not a vibration file this app reads (WAV, CSV, .npy/.npz, MATLAB .mat)")


def read_recording(source, *, filename: str | None = None, fs_hz: float | None = None, rpm: float | None = None,
                   bearing=None, channel: str | int | None = None, units: str = "g",
                   max_samples: int = DEFAULT_MAX_SAMPLES) -> Recording:
    """Read a file (path or bytes) into a :class:`Recording`; see the module docstring for formats."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        filename = filename or path.name
        try:
            size = path.stat().st_size
            if size > 16 * max_samples + 65536:
                raise PayloadTooLargeError(f"{filename}: {size / 1e6:.1f} MB is more than this reader accepts "
                                           f"(max_samples={max_samples})")
            data = path.read_bytes()
        except FileNotFoundError:
            raise InvalidInputError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise InvalidInputError(f"{path} is a folder; give one file") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        raise InvalidInputError(f"cannot read a {type(source).__name__}; give a path or bytes")
    name = filename or "upload"
    if not data:
        raise InvalidInputError(f"{name} is empty")
    if units not in ("g", "m/s2"):
        raise InvalidInputError(f"units must be 'g' or 'm/s2', got {units!r}")
    fmt = detect_format(data, filename)
    _check_budget(fmt, data, name, max_samples)
    from .matfile import read_mat

    reader = {"wav": _read_wav, "csv": _read_csv, "npy": _read_npy, "npz": _read_npz, "mat": read_mat}[fmt]
    signal, file_meta, chan = reader(data, name, channel)
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise InvalidInputError(f"{name}: expected one channel of samples, got shape {signal.shape}")
    if signal.size == 0:
        raise InvalidInputError(f"{name} holds no samples")
    if signal.size > max_samples:
        raise PayloadTooLargeError(f"{name}: {signal.size} samples is more than max_samples={max_samples}")
    if signal.dtype.kind not in "fiu":
        raise InvalidInputError(f"{name}: samples are not numbers (dtype {signal.dtype})")
    check_finite(f"{name} samples", signal.astype(np.float64) if signal.dtype.kind != "f" else signal)
    if signal.dtype.kind == "f" and np.max(np.abs(signal)) > 1e30:
        raise InvalidInputError(f"{name}: samples as large as {float(np.max(np.abs(signal))):.3g} are not an "
                                f"acceleration in {units}; the file is corrupt or not a recording")
    fs = _positive("fs_hz", fs_hz if fs_hz is not None else file_meta.get("fs_hz"), name, "--fs HZ",
                   field=file_meta.get("missing_fs_field"))
    speed = _positive("rpm", rpm if rpm is not None else file_meta.get("rpm"), name, "--rpm RPM",
                      field=file_meta.get("missing_rpm_field"))
    if not 4000.0 <= fs <= 1_000_000.0:
        raise InvalidInputError(f"{name}: sampling rate {fs:g} Hz is outside 4 kHz..1 MHz; envelope analysis of "
                                "bearing resonances needs at least a few kHz")
    if not 30.0 <= speed <= 30000.0:
        raise InvalidInputError(f"{name}: shaft speed {speed:g} rpm is outside 30..30000 rpm")
    try:
        geometry = get_geometry(bearing if bearing is not None else file_meta.get("bearing"))
    except ConfigError as exc:
        if bearing is not None:  # the user's own --bearing: a setting
            raise
        raise InvalidInputError(f"{name}: the file's bearing tag is not usable: {exc.message}",
                                hint="give the bearing with --bearing") from None
    units = str(file_meta.get("units", units)) if units == "g" else units
    x = signal.astype(np.float64)
    if units == "m/s2":
        x = x / G
    if np.ptp(x) == 0.0:
        raise InvalidInputError(f"{name}: the signal is constant (sensor disconnected?)")
    split_windows(len(x), fs_hz=fs, rpm=speed)  # raises if shorter than one analysis window
    meta = {"format": fmt, "fs_source": "flag" if fs_hz is not None else "file",
            "rpm_source": "flag" if rpm is not None else "file",
            "geometry_scale_known": bool(bearing is not None or file_meta.get("geometry_scale_known", True))}
    if bearing is None and file_meta.get("geometry_scale_known") is False:
        meta["geometry_source"] = "the file's defect frequencies (pitch diameter not in the file: sizes in mm withheld)"
    if "load" in file_meta:
        meta["load"] = file_meta["load"]
    return Recording(x.astype(np.float32), fs, speed, geometry, source=name, channel=chan, meta=meta)


def _positive(what: str, value, name: str, flag: str, field: str | None = None) -> float:
    if value is None:
        said = f" (no field {field!r})" if field else ""
        raise MissingMetadataError(f"{name}: the file does not say its {'sampling rate' if what == 'fs_hz' else 'shaft speed'}{said}",
                                   hint=f"give it with {flag}", field=what)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name}: {what} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise InvalidInputError(f"{name}: {what} must be > 0, got {value!r}")
    return v


def _parse_meta_text(text: str) -> dict:
    """``rpm=1797; fs_hz=12000, bearing=6205-2rs units=g`` -> dict (known keys only)."""
    meta = {}
    for key, val in re.findall(r"([A-Za-z_]+)\s*[=:]\s*([^\s,;]+)", text):
        k = key.lower()
        if k in ("rpm", "speed_rpm"):
            meta["rpm"] = val
        elif k in ("fs", "fs_hz", "sampling_rate", "samplerate", "sample_rate"):
            meta["fs_hz"] = val
        elif k == "bearing":
            meta["bearing"] = val
        elif k == "units" and val in ("g", "m/s2"):
            meta["units"] = val
    return meta


def _pick_column(arr: np.ndarray, channel, name: str, names: list[str] | None = None) -> tuple[np.ndarray, str]:
    if arr.ndim == 1:
        return arr, "0"
    if arr.ndim != 2:
        raise InvalidInputError(f"{name}: expected a 1-D or 2-D array, got shape {arr.shape}")
    if arr.shape[0] < arr.shape[1]:
        arr = arr.T  # (channels, samples) -> (samples, channels)
    if channel is None:
        idx = 0
    elif names and str(channel) in names:
        idx = names.index(str(channel))
    else:
        try:
            idx = int(channel)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{name}: no channel {channel!r}; channels: {', '.join(names or map(str, range(arr.shape[1])))}") from None
    if not 0 <= idx < arr.shape[1]:
        raise InvalidInputError(f"{name}: channel {channel!r} out of range (0..{arr.shape[1] - 1})")
    return arr[:, idx], (names[idx] if names else str(idx))


def _check_budget(fmt: str, data: bytes, name: str, max_samples: int) -> None:
    """What decoding would allocate, from the header (edgeinv.common.limits): a FLAC declaring 2^36 frames,
    a zlib MAT variable of 268 M doubles or a 2 GiB .npz member is refused before anything is decoded."""
    from edgeinv.common import limits

    max_bytes = max(limits.MAX_DECODED_BYTES, 8 * int(max_samples))
    if fmt == "wav":
        limits.check_audio(data, name, max_samples=max_bytes // 8)
    elif fmt == "csv":
        limits.check_text(data, name, max_lines=int(max_samples) + 1000)
    elif fmt == "npy":
        limits.check_npy(data, name, max_bytes=max_bytes)
    elif fmt == "npz":
        limits.check_npz(data, name, max_bytes=max_bytes)
    elif fmt == "mat":
        limits.check_mat(data, name, max_bytes=max_bytes)


def _read_wav(data: bytes, name: str, channel):
    import soundfile as sf

    _check_riff_complete(data, name)
    try:
        with sf.SoundFile(_io.BytesIO(data)) as f:
            fs = float(f.samplerate)
            comment = " ".join(filter(None, [f.comment, f.title]))
            arr = f.read(dtype="float64", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as exc:
        raise UnsupportedFormatError(f"{name}: not a readable audio file ({exc})") from None
    x, chan = _pick_column(arr, channel, name)
    return x, {"fs_hz": fs, **_parse_meta_text(comment or "")}, chan


def _check_riff_complete(data: bytes, name: str) -> None:
    """A WAV whose data chunk declares more bytes than the file holds was cut off."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"data":
            if size not in (0, 0xFFFFFFFF) and pos + 8 + size > len(data):
                raise InvalidInputError(f"{name}: truncated WAV (data chunk declares {size} bytes, "
                                        f"{len(data) - pos - 8} present)")
            return
        pos += 8 + size + (size & 1)
    raise InvalidInputError(f"{name}: truncated WAV (no complete data chunk)")


_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.I)


def _read_csv(data: bytes, name: str, channel):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnsupportedFormatError(f"{name}: not a text (CSV) file") from None
    meta: dict = {}
    rows: list[list[str]] = []
    header: list[str] | None = None
    delim = None
    arr = None
    lines = text.splitlines()
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#") or line.startswith("%"):
            meta.update(_parse_meta_text(line[1:]))
            continue
        if delim is None:
            delim = next((d for d in (",", ";", "\t") if d in line), None)
        cells = [c.strip().strip('"') for c in (line.split(delim) if delim else line.split())]
        if not all(_NUM.match(c) for c in cells):
            if header is None and not rows:
                header = cells
                meta.update(_parse_meta_text(line))
                continue
            raise InvalidInputError(f"{name}: line {lineno} is not numeric: {raw[:60]!r}")
        if not rows:  # the first data row: the rest in one go if it is plain numbers (else line by line)
            arr = numeric_table(lines[lineno - 1:], delim, len(cells))  # plain numbers: np.loadtxt
            if arr is not None:
                break
        rows.append(cells)
    if arr is None:
        if not rows:
            raise InvalidInputError(f"{name}: no numeric rows (expected one column of samples or time,value columns)")
        width = len(rows[0])
        for i, r in enumerate(rows):
            if len(r) != width:
                raise InvalidInputError(f"{name}: row {i + 1} has {len(r)} columns, the first has {width} (truncated file?)")
        arr = np.array(rows, dtype=np.float64)
    width = arr.shape[1]
    names = header if header and len(header) == width else None
    if width == 1:
        return arr[:, 0], meta, (names[0] if names else "0")
    t = arr[:, 0]
    dt = np.diff(t)
    is_time = len(t) > 2 and np.all(dt > 0) and np.ptp(dt) <= 0.05 * np.median(dt) + 1e-12
    if names and re.search(r"time|^t$|^t_|sec|^s$", names[0], re.I):
        if not is_time:
            raise InvalidInputError(f"{name}: the time column {names[0]!r} is not evenly increasing")
    if is_time:
        scale = 1e-3 if names and re.search(r"ms|milli", names[0], re.I) else 1.0
        meta.setdefault("fs_hz", (len(t) - 1) / (float(t[-1] - t[0]) * scale))  # exact for rounded time stamps
        values, vnames = arr[:, 1:], (names[1:] if names else None)
    else:
        values, vnames = arr, names
    if values.shape[1] == 1:
        return values[:, 0], meta, (vnames[0] if vnames else "0")
    x, chan = _pick_column(values, channel, name, vnames)
    return x, meta, chan


def _read_npy(data: bytes, name: str, channel):
    try:
        arr = np.load(_io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise InvalidInputError(f"{name}: truncated or corrupt .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise UnsupportedFormatError(f"{name}: not a NumPy .npy file ({exc})") from None
    except Exception as exc:  # a damaged header dict fails in numpy's parser (e.g. tokenize.TokenError)
        raise InvalidInputError(f"{name}: truncated or corrupt .npy file ({type(exc).__name__})") from None
    x, chan = _pick_column(np.asarray(arr), channel, name)
    return x, {}, chan


def _read_npz(data: bytes, name: str, channel):
    try:
        with np.load(_io.BytesIO(data), allow_pickle=False) as z:
            files = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile raises several kinds for a broken archive
        raise InvalidInputError(f"{name}: truncated or corrupt .npz file ({exc})") from None
    key = next((k for k in ("signal", "x", "data", "acc") if k in files), None)
    if key is None:
        raise InvalidInputError(f"{name}: .npz needs an array named 'signal' (found {', '.join(files) or 'none'})")
    meta = {}
    for k, dest in (("fs_hz", "fs_hz"), ("fs", "fs_hz"), ("rpm", "rpm")):
        if k in files and files[k].size == 1:
            meta.setdefault(dest, files[k].ravel()[0])  # checked (number, > 0) by _positive
    x, chan = _pick_column(files[key], channel, name)
    return x, meta, chan


# ---- example writers (for `edgeinv bearing-wear simulate`) -------------------------------------


def write_recording(path: str | Path, signal: np.ndarray, *, fs_hz: float, rpm: float, bearing: str = "6205-2rs",
                    include_fs: bool = False) -> str:
    """Write ``signal`` (g) as WAV/CSV/.npy/.npz/.mat by the path's suffix; returns the format.

    WAV keeps fs in its header and rpm/bearing in its comment; CSV gets a time column and a comment
    line; .mat follows the CWRU layout (``X000_DE_time``, ``X000RPM``; fs only if ``include_fs``).
    """
    path = Path(path)
    fmt = SUFFIXES.get(path.suffix.lower())
    x = np.asarray(signal, dtype=np.float32)
    tag = f"rpm={rpm:.1f}; bearing={bearing}; units=g"
    if fmt == "wav":
        import soundfile as sf

        with sf.SoundFile(path, "w", samplerate=int(round(fs_hz)), channels=1, format="WAV", subtype="FLOAT") as f:
            f.comment = tag
            f.write(x)
    elif fmt == "csv":
        t = np.arange(len(x)) / fs_hz
        with open(path, "w") as fh:
            fh.write(f"# {tag}; fs_hz={fs_hz:g}\ntime_s,acc_g\n")
            np.savetxt(fh, np.column_stack([t, x]), delimiter=",", fmt=("%.8f", "%.6g"))
    elif fmt == "npy":
        np.save(path, x)
    elif fmt == "npz":
        np.savez(path, signal=x, fs_hz=fs_hz, rpm=rpm)
    elif fmt == "mat":
        import scipy.io

        d = {"X000_DE_time": x.astype(np.float64)[:, None], "X000RPM": np.array([[round(rpm)]], dtype=np.float64)}
        if include_fs:
            d["fs"] = np.array([[fs_hz]])
        scipy.io.savemat(path, d)
    else:
        raise InvalidInputError(f"cannot write {path.name}: use .wav, .csv, .npy, .npz or .mat")
    return fmt
