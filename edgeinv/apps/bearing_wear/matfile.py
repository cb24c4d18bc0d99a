"""MATLAB .mat readers: the CWRU layout, MFPT struct recordings and files holding one signal variable.

* CWRU Bearing Data Center: ``X097_DE_time``, ``X097_FE_time``, ``X097_BA_time``, ``X097RPM``; the
  drive end by default, ``channel`` picks ``FE``/``BA`` or a full variable name; fs only from a
  variable ``fs``/``Fs``/``fs_hz``/``sampling_rate``.
* MFPT fault database: a struct ``bearing`` with ``gs`` (signal, g), ``sr`` (sampling rate),
  ``rate`` (shaft rate, Hz) and ``load``; the top-level ``BPFO``/``BPFI``/``BSF`` give the geometry
  up to scale. A missing field is named in the error.
* Any file with one numeric signal variable, whatever its name (HIT-SM: ``z20_4``, ``VarName5``...).
"""

from __future__ import annotations

import io as _io
import re

import numpy as np

from edgeinv.common.errors import InvalidInputError, MissingMetadataError, UnsupportedFormatError

from .io import _pick_column


_CWRU_TIME = re.compile(r"^X(\d+)_(DE|FE|BA)_time$")
_CWRU_RPM = re.compile(r"^X(\d+)RPM$")
_STRUCT_SIGNAL = ("gs", "signal", "data", "acc", "x", "y")
_STRUCT_FS = ("sr", "fs", "Fs", "fs_hz", "sampling_rate", "SamplingRate")
_STRUCT_SHAFT_HZ = ("rate", "shaft_hz")
_STRUCT_RPM = ("rpm", "RPM", "speed_rpm")
_FS_KEYS = ("fs_hz", "fs", "Fs", "FS", "sampling_rate", "SamplingRate")


def _scalar(value):
    """A MATLAB scalar (possibly wrapped in 0-d object arrays) -> its raw value, else None."""
    v = value
    for _ in range(4):
        if isinstance(v, np.ndarray):
            if v.size != 1:
                return None
            v = v.reshape(-1)[0]
        else:
            break
    return v


def _is_struct(value) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.names is not None and value.size == 1


def _read_struct(mat: dict, var: str, name: str, channel):
    """A MATLAB struct recording (MFPT layout ``bearing.gs``, ``bearing.sr``, ``bearing.rate``, ``bearing.load``).

    The signal is the struct's array field (``gs`` in g for MFPT, or ``channel`` if given); ``sr`` is
    the sampling rate and ``rate`` the shaft rate in Hz (MFPT convention). A missing field is named.
    """
    s = mat[var]
    fields = {f: s[f].reshape(-1)[0] if s[f].dtype == object else s[f] for f in s.dtype.names}
    arrays = {f: np.asarray(v) for f, v in fields.items() if isinstance(v, np.ndarray) and np.asarray(v).size > 1
              and np.asarray(v).dtype.kind in "fiu"}
    if channel is not None and str(channel) in fields:
        sig_field = str(channel)
    else:
        sig_field = next((f for f in _STRUCT_SIGNAL if f in arrays), None)
        if sig_field is None and len(arrays) == 1:
            sig_field = next(iter(arrays))
    if sig_field is None:
        raise MissingMetadataError(f"{name}: struct {var!r} has no signal field (looked for "
                                   f"{', '.join(f'{var}.{f}' for f in _STRUCT_SIGNAL)}; fields: {', '.join(fields)})",
                                   hint="name the field with --channel")
    meta: dict = {"struct": var}
    fs_field = next((f for f in _STRUCT_FS if f in fields), None)
    if fs_field is not None:
        meta["fs_hz"] = _scalar(fields[fs_field])
    else:
        meta["missing_fs_field"] = f"{var}.sr"
    shaft = next((f for f in _STRUCT_SHAFT_HZ if f in fields), None)
    rpm_f = next((f for f in _STRUCT_RPM if f in fields), None)
    if rpm_f is not None:
        meta["rpm"] = _scalar(fields[rpm_f])
    elif shaft is not None:
        hz = _scalar(fields[shaft])
        try:
            meta["rpm"] = float(hz) * 60.0
        except (TypeError, ValueError):
            meta["rpm"] = hz  # _positive names the bad value
    else:
        meta["missing_rpm_field"] = f"{var}.rate"
    if "load" in fields:
        meta["load"] = str(_scalar(fields["load"]))
    return np.asarray(fields[sig_field]), meta, f"{var}.{sig_field}"


def _geometry_from_defect_frequencies(mat: dict, shaft_hz: float | None) -> str | None:
    """Bearing geometry from top-level BPFO/BPFI/BSF (Hz) as MFPT files carry them; None if absent.

    ``n = (BPFO + BPFI) / f_r``, ``r = (BPFI - BPFO) / (BPFI + BPFO)``, ``D/d = 2 BSF / (f_r (1 - r^2))``,
    ``cos(phi) = r D / d``. The absolute scale is not in the file: a nominal pitch of 40 mm is used
    and the recording is marked so that no size in mm is reported from it.
    """
    vals = {k: _scalar(mat[k]) for k in ("BPFO", "BPFI", "BSF") if k in mat}
    if len(vals) < 3 or not shaft_hz:
        return None
    try:
        bpfo, bpfi, bsf = (float(vals[k]) for k in ("BPFO", "BPFI", "BSF"))
    except (TypeError, ValueError):
        return None
    n = (bpfo + bpfi) / shaft_hz
    if not (np.isfinite(n) and abs(n - round(n)) < 0.05 and 3 <= round(n) <= 60 and bpfi > bpfo > 0 and bsf > 0):
        return None
    r = (bpfi - bpfo) / (bpfi + bpfo)
    d_over_D = 1.0 / (2.0 * bsf / (shaft_hz * (1.0 - r * r)))
    cos_phi = min(r / d_over_D, 1.0)
    angle = float(np.degrees(np.arccos(cos_phi)))
    angle = 0.0 if angle < 2.0 else angle
    pitch = 40.0
    return f"n={int(round(n))},d={d_over_D * pitch:.4f},D={pitch},angle={angle:.2f}"


def read_mat(data: bytes, name: str, channel):
    """(signal, metadata, channel name) of a .mat file; see the module docstring."""
    import scipy.io

    if data[:4] == b"\x89HDF" or b"MATLAB 7.3" in data[:128]:
        raise UnsupportedFormatError(f"{name}: MATLAB v7.3 (HDF5) files are not supported; save with -v7")
    try:
        mat = scipy.io.loadmat(_io.BytesIO(data), squeeze_me=True)
    except Exception as exc:  # scipy raises ValueError/TypeError/MatReadError for damaged files
        raise InvalidInputError(f"{name}: truncated or corrupt MATLAB file ({exc})") from None
    names = [k for k in mat if not k.startswith("__")]
    structs = [k for k in names if _is_struct(mat[k])]
    series = {k: m.groups() for k in names if (m := _CWRU_TIME.match(k))}
    if structs and not series and (channel is None or str(channel) not in mat):
        var = structs[0]
        x, meta, chan = _read_struct(mat, var, name, channel)
        rpm = meta.get("rpm")
        try:
            shaft_hz = float(rpm) / 60.0 if rpm is not None else None
        except (TypeError, ValueError):
            shaft_hz = None
        geo = _geometry_from_defect_frequencies(mat, shaft_hz)
        if geo is not None:
            meta["bearing"] = geo
            meta["geometry_scale_known"] = False
        x, _ = _pick_column(x, None, name)
        return x, meta, chan
    want = "DE" if channel is None else str(channel)
    if want in mat and not want.startswith("__"):
        var = want
    else:
        cands = sorted(k for k, (_, pos) in series.items() if pos == want.upper())
        if not cands:
            numeric = [k for k in names if isinstance(mat[k], np.ndarray) and mat[k].size > 1 and mat[k].dtype.kind in "fiu"]
            if channel is None and len(numeric) == 1:
                var = numeric[0]  # one variable of any name (HIT-SM: z20_4, VarName5, inside2d_900_1 ...)
            else:
                raise InvalidInputError(f"{name}: no {want!r} channel; variables: {', '.join(names) or 'none'} "
                                        "(CWRU layout: X097_DE_time, X097_FE_time, X097RPM; or one signal variable)")
        else:
            var = cands[0]
    meta = {}
    prefix = series.get(var, (None,))[0]
    rpm_keys = [k for k in names if (m := _CWRU_RPM.match(k)) and (prefix is None or m.group(1) == prefix)]
    rpm_keys = rpm_keys or [k for k in names if _CWRU_RPM.match(k)] or [k for k in names if k.lower() == "rpm"]
    if rpm_keys:  # raw values: _positive checks they are numbers > 0 (an empty one reads as a bad value)
        rpm = np.asarray(mat[rpm_keys[0]]).ravel()
        meta["rpm"] = rpm[0] if rpm.size else rpm
    for k in _FS_KEYS:
        if k in mat and np.asarray(mat[k]).size == 1:
            meta["fs_hz"] = np.asarray(mat[k]).ravel()[0]
            break
    x = np.asarray(mat[var])
    x, _ = _pick_column(x, None, name)
    return x, meta, var
