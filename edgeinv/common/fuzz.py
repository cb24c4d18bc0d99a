"""A seeded generator of malformed input files, and a runner that pushes them through the readers.

Development tool (``make fuzz``, ``tests/fuzz/``); edge side only (no torch). Seeds are valid files the
apps write themselves (``App.write_example``, by suffix); every case is a mutation of a seed, named and
reproducible from ``(seed file, case index, rng seed)``:

``random``        random bytes with the seed's suffix
``truncate``      the seed cut at a random offset
``bitflip``       1-16 random bits flipped
``header``        1-8 random bytes overwritten in the first 64
``splice``        a random slice of the file duplicated or removed
``nan_inf``       text: a number replaced by nan/inf/-inf/1e309; binary: 8-byte floats overwritten with NaN/inf
``shape``         text: ragged rows / a 1-row or 1-column table; binary: a run of zeros or 0xFF in the header
``big_header``    the size fields of PNG/JPEG/FLAC/NPY headers set to huge values (header bombs)

:func:`run_reader_cases` reads every case with ``app.read_many`` under a per-case time limit and a
memory watch, and classifies it: ``refused`` (an EdgeinvError with a message), ``read`` (a sample came
out: valid enough), ``crash`` (any other exception: a bug), ``hang`` (over the time limit). :func:`run_entry_cases` sends the same cases
through ``edgeinv <app> predict`` (exit status: 0 read, 2/3/5 with one ``error:`` line refused, else a
crash) and through the upload API (2xx read, 4xx refused, 5xx a crash). The table printed by
``make fuzz`` counts them per entry point and format, with the peak RSS.
"""

from __future__ import annotations

import os
import re
import signal
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EdgeinvError
from .runtime.bench import _rss_mb  # peak resident set (VmHWM)

__all__ = ["Case", "SEED_SUFFIXES", "seeds", "mutate", "cases", "run_reader_cases", "format_table"]

SEED_SUFFIXES = {"bearing-wear": (".wav", ".csv", ".npy", ".npz", ".mat", ".flac"),
                 "leaf-nitrogen": (".csv",), "veg-cover": (".tif", ".png", ".jpg")}
# example parameters (small files) and which facts of write_example's answer a reader needs as metadata
EXAMPLE_PARAMS = {"bearing-wear": {"duration": 3.0, "rpm": 1500.0}}
READ_META = {"bearing-wear": {"fs_hz": "fs_hz", "rpm": "rpm"}}
MUTATIONS = ("random", "truncate", "bitflip", "header", "splice", "nan_inf", "shape", "big_header")


@dataclass
class Case:
    app: str
    fmt: str
    mutation: str
    index: int
    data: bytes
    meta: dict

    @property
    def filename(self) -> str:
        return f"fuzz_{self.mutation}_{self.index:05d}{self.fmt}"


def _seed_file(app, suffix: str, folder: Path, rng) -> tuple[bytes, dict] | None:
    path = folder / f"seed_{app.package_name}{suffix}"
    params = EXAMPLE_PARAMS.get(app.name, {})
    info: dict = {}
    try:
        if suffix == ".flac":  # bearing-wear reads any libsndfile format: FLAC from the WAV seed
            import soundfile as sf

            wav = folder / f"seed_{app.package_name}.wav"
            info = app.write_example(wav, rng, **params) or {}
            data, fs = sf.read(wav)
            sf.write(path, data, fs, format="FLAC")
        elif suffix in (".png", ".jpg"):  # frames from the GeoTIFF seed
            import cv2
            import rasterio

            tif = folder / f"seed_{app.package_name}.tif"
            if not tif.exists():
                app.write_example(tif, rng, **params)
            with rasterio.open(tif) as ds:
                arr = ds.read()[:3].astype(np.float64)
            arr = np.clip(255 * arr / max(float(arr.max()), 1e-9), 0, 255).astype(np.uint8).transpose(1, 2, 0)
            ok, buf = cv2.imencode(suffix, np.ascontiguousarray(arr[:256, :256]))
            path.write_bytes(bytes(buf))
        else:
            info = app.write_example(path, rng, **params) or {}
    except (EdgeinvError, OSError, ValueError, ImportError):
        return None
    meta = {k: info[v] for k, v in READ_META.get(app.name, {}).items() if v in info}
    return (path.read_bytes(), meta) if path.exists() else None


def seeds(app, folder: Path, *, seed: int = 0) -> dict[str, tuple[bytes, dict]]:
    """Valid files of every format the app reads: ``{suffix: (bytes, read metadata)}``."""
    rng = np.random.default_rng(seed)
    out = {}
    for suffix in SEED_SUFFIXES.get(app.name, (app.example_suffix,) if app.example_suffix else ()):
        data = _seed_file(app, suffix, folder, rng)
        if data:
            out[suffix] = data
    return out


_NUM = re.compile(rb"(?<![\w.])-?\d+\.\d+(?:[eE][-+]?\d+)?")


def _big_header(data: bytes, rng) -> bytes:
    b = bytearray(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(b) >= 24:
        b[16:24] = struct.pack(">II", int(rng.integers(20_000, 70_000)), int(rng.integers(20_000, 70_000)))
    elif data[:2] == b"\xff\xd8" and b"\xff\xc0" in data:
        i = data.index(b"\xff\xc0")
        b[i + 5:i + 9] = struct.pack(">HH", int(rng.integers(8_000, 65_535)), int(rng.integers(8_000, 65_535)))
    elif data[:4] == b"fLaC" and len(b) > 26:
        off = 21
        packed = int.from_bytes(b[off:off + 5], "big")
        packed = (packed & ~((1 << 36) - 1)) | int(rng.integers(1 << 30, 1 << 36))
        b[off:off + 5] = packed.to_bytes(5, "big")
    elif data[:6] == b"\x93NUMPY":
        b = bytearray(re.sub(rb"\((\d+),?\s*\)", lambda m: b"(%d,)" % int(rng.integers(10**8, 10**10)), bytes(b), count=1))
    elif data[:4] == b"RIFF" and len(b) > 44:
        b[4:8] = struct.pack("<I", 0xFFFFFFF0)
        j = data.find(b"data")
        if j > 0:
            b[j + 4:j + 8] = struct.pack("<I", 0xFFFFFFF0)
    else:
        return _bytes_at(data, rng, 0, 64)
    return bytes(b)


def _bytes_at(data: bytes, rng, lo: int, hi: int) -> bytes:
    b = bytearray(data)
    if not b:
        return bytes(rng.integers(0, 256, 16, dtype=np.uint8))
    for _ in range(int(rng.integers(1, 9))):
        i = int(rng.integers(lo, max(lo + 1, min(hi, len(b)))))
        if i < len(b):
            b[i] = int(rng.integers(0, 256))
    return bytes(b)


def mutate(data: bytes, fmt: str, mutation: str, rng) -> bytes:
    """One malformed variant of ``data`` (see the module docstring)."""
    n = len(data)
    text = fmt in (".csv", ".txt", ".tsv")
    if mutation == "random":
        return bytes(rng.integers(0, 256, int(rng.integers(0, 4096)), dtype=np.uint8))
    if mutation == "truncate":
        return data[: int(rng.integers(0, max(n, 1)))]
    if mutation == "bitflip":
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 17))):
            if b:
                i = int(rng.integers(0, len(b)))
                b[i] ^= 1 << int(rng.integers(0, 8))
        return bytes(b)
    if mutation == "header":
        return _bytes_at(data, rng, 0, 64)
    if mutation == "splice":
        if n < 4:
            return data
        i, j = sorted(int(v) for v in rng.integers(0, n, 2))
        return data[:i] + data[i:j] * int(rng.integers(0, 3)) + data[j:]
    if mutation == "nan_inf":
        if text:
            matches = list(_NUM.finditer(data))
            if not matches:
                return data + b"\nnan,inf\n"
            m = matches[int(rng.integers(0, len(matches)))]
            return data[:m.start()] + rng.choice([b"nan", b"inf", b"-inf", b"1e309", b"NaN"]) + data[m.end():]
        b = bytearray(data)
        bad = struct.pack("<d", rng.choice([np.nan, np.inf, -np.inf]))
        for _ in range(int(rng.integers(1, 6))):
            i = int(rng.integers(min(n, 128), max(n - 8, min(n, 128) + 1)))
            if i + 8 <= n:
                b[i:i + 8] = bad
        return bytes(b)
    if mutation == "shape":
        if text:
            lines = data.split(b"\n")
            choice = int(rng.integers(0, 3))
            if choice == 0:
                return b"\n".join(lines[:2])  # a header and one row
            if choice == 1:
                return b"\n".join(ln.split(b",")[0] for ln in lines)  # one column
            k = int(rng.integers(1, max(2, len(lines))))
            lines[k] = lines[k] + b",1,2,3"  # a ragged row
            return b"\n".join(lines)
        b = bytearray(data)
        i = int(rng.integers(0, max(1, min(n, 64))))
        b[i:i + 16] = (b"\x00" if rng.random() < 0.5 else b"\xff") * 16
        return bytes(b[:max(n, i + 16)])
    if mutation == "big_header":
        return _big_header(data, rng)
    raise ValueError(f"unknown mutation {mutation!r}")


def cases(app, seed_files: dict[str, tuple[bytes, dict]], n_per_format: int, *, seed: int = 0):
    """``n_per_format`` cases per seed format, the mutations in turn, reproducible from ``seed``."""
    for fmt, (data, meta) in seed_files.items():
        rng = np.random.default_rng([seed, sum(fmt.encode())])
        for i in range(n_per_format):
            m = MUTATIONS[i % len(MUTATIONS)]
            yield Case(app.name, fmt, m, i, mutate(data, fmt, m, rng), meta)


class _Timeout(Exception):
    pass


def run_reader_cases(app, case_iter, *, time_limit_s: float = 5.0, read_kwargs: dict | None = None) -> dict:
    """Read every case with ``app.read_many``; counts per format and the crashing/hanging cases."""
    stats: dict[str, dict] = {}
    failures = []
    use_alarm = hasattr(signal, "SIGALRM") and os.name == "posix"

    def _alarm(_sig, _frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, _alarm) if use_alarm else None
    try:
        for case in case_iter:
            row = stats.setdefault(case.fmt, {"cases": 0, "refused": 0, "read": 0, "crash": 0, "hang": 0,
                                              "max_ms": 0.0, "peak_rss_mb": 0.0})
            row["cases"] += 1
            t0 = time.perf_counter()
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, time_limit_s)
            try:
                app.read_many(case.data, filename=case.filename, **{**case.meta, **(read_kwargs or {})})
                row["read"] += 1
            except _Timeout:
                row["hang"] += 1
                failures.append((case, "hang"))
            except EdgeinvError as exc:
                if not str(exc).strip():
                    row["crash"] += 1
                    failures.append((case, "error without a message"))
                else:
                    row["refused"] += 1
            except Exception as exc:  # noqa: BLE001 - what the fuzz run is looking for
                row["crash"] += 1
                failures.append((case, f"{type(exc).__name__}: {exc}"[:300]))
            finally:
                if use_alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            row["max_ms"] = max(row["max_ms"], (time.perf_counter() - t0) * 1e3)
            row["peak_rss_mb"] = max(row["peak_rss_mb"], _rss_mb())
    finally:
        if use_alarm:
            signal.signal(signal.SIGALRM, old)
    return {"app": app.name, "formats": stats,
            "failures": [{"file": c.filename, "format": c.fmt, "mutation": c.mutation, "why": why} for c, why in failures]}


# The upload API of each app: (create the entity: path, body), upload path, query names of read metadata
UPLOAD_API = {"bearing-wear": (("/api/entities", {"name": "fuzz", "bearing": "6205-2rs", "rpm": 1500, "fs_hz": 12000}),
                               "/api/entities/{id}/uploads", {"fs_hz": "fs", "rpm": "rpm"}),
              "leaf-nitrogen": (("/api/entities", {"name": "fuzz", "crop": "wheat", "stage": "tillering"}),
                                "/api/entities/{id}/uploads", {}),
              "veg-cover": (("/api/entities", {"name": "fuzz"}), "/api/entities/{id}/uploads", {})}
CLI_FLAGS = {"fs_hz": "--fs", "rpm": "--rpm"}


def run_entry_cases(app, case_iter, *, via: str, folder: Path, settings=None) -> dict:
    """The cases through ``edgeinv <app> predict`` (``via="cli"``, in-process, exit status) or the upload
    API (``via="api"``, a Flask test client: 2xx read, 4xx refused, 5xx a crash)."""
    import contextlib
    import io as _io

    stats: dict[str, dict] = {}
    failures = []
    client = base = None
    if via == "api":
        from .config import load_settings
        from .web import create_app

        flask_app = create_app(settings or load_settings(env={}, data_dir=folder / "data"), [app])
        flask_app.config.update(TESTING=True)
        client = flask_app.test_client()
        (create, body), upload, _ = UPLOAD_API[app.name]
        r = client.post(f"/{app.name}{create}", json=body)
        if r.status_code != 201:
            raise RuntimeError(f"cannot create a {app.name} entity for the fuzz run: {r.status_code} {r.get_data()[:200]}")
        base = f"/{app.name}" + upload.format(id=r.get_json()["id"])
    from .cli import main as cli_main

    for case in case_iter:
        row = stats.setdefault(case.fmt, {"cases": 0, "refused": 0, "read": 0, "crash": 0, "hang": 0,
                                          "5xx": 0, "max_ms": 0.0, "peak_rss_mb": 0.0})
        row["cases"] += 1
        t0 = time.perf_counter()
        if via == "api":
            query = {"filename": case.filename}
            query.update({UPLOAD_API[app.name][2][k]: str(v) for k, v in case.meta.items() if k in UPLOAD_API[app.name][2]})
            r = client.post(base, query_string=query, data=case.data, content_type="application/octet-stream")
            if r.status_code >= 500:
                row["5xx"] += 1
                row["crash"] += 1
                failures.append((case, f"HTTP {r.status_code}: {r.get_data(as_text=True)[:200]}"))
            elif r.status_code >= 400:
                row["refused"] += 1
            else:
                row["read"] += 1
        else:
            path = folder / case.filename
            path.write_bytes(case.data)
            flags = [f for k, v in case.meta.items() if k in CLI_FLAGS for f in (CLI_FLAGS[k], str(v))]
            out, err = _io.StringIO(), _io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = cli_main([app.name, "predict", str(path), *flags, "--json"])
            path.unlink()
            if rc == 0:
                row["read"] += 1
            elif rc in (2, 3, 5) and err.getvalue().startswith("error: "):
                row["refused"] += 1
            else:
                row["crash"] += 1
                failures.append((case, f"exit {rc}: {err.getvalue()[-200:]}"))
        row["max_ms"] = max(row["max_ms"], (time.perf_counter() - t0) * 1e3)
        row["peak_rss_mb"] = max(row["peak_rss_mb"], _rss_mb())
    return {"app": app.name, "via": via, "formats": stats,
            "failures": [{"file": c.filename, "format": c.fmt, "mutation": c.mutation, "why": why} for c, why in failures]}


def format_table(reports: list[dict]) -> str:
    head = (f"{'app':<14} {'via':<6} {'format':<6} {'cases':>6} {'refused':>8} {'read':>6} {'crash':>6} {'hang':>5} "
            f"{'5xx':>4} {'max ms':>8} {'RSS MB':>7}")
    lines = [head, "-" * len(head)]
    for r in reports:
        for fmt, s in r["formats"].items():
            lines.append(f"{r['app']:<14} {r.get('via', 'reader'):<6} {fmt:<6} {s['cases']:>6} {s['refused']:>8} "
                         f"{s['read']:>6} {s['crash']:>6} {s['hang']:>5} {s.get('5xx', 0):>4} {s['max_ms']:>8.0f} "
                         f"{s['peak_rss_mb']:>7.0f}")
    for r in reports:
        for f in r["failures"][:20]:
            lines.append(f"  {r['app']} {f['file']}: {f['why']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m edgeinv.common.fuzz [--n N] [--seed S] [APP ...]``: the table, exit 1 on a crash or hang."""
    import argparse
    import json
    import sys
    import tempfile

    from .app import all_apps, get_app

    p = argparse.ArgumentParser(prog="python -m edgeinv.common.fuzz")
    p.add_argument("apps", nargs="*")
    p.add_argument("--n", type=int, default=1000, help="cases per format through the readers (default 1000)")
    p.add_argument("--n-cli", type=int, default=None, help="cases per format through predict (default: --n)")
    p.add_argument("--n-api", type=int, default=None, help="cases per format through the upload API (default: --n)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    apps = [get_app(a) for a in args.apps] if args.apps else list(all_apps().values())
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        for app in apps:
            files = seeds(app, Path(tmp), seed=args.seed)
            reports.append(run_reader_cases(app, cases(app, files, args.n, seed=args.seed)))
            for via, n in (("cli", args.n if args.n_cli is None else args.n_cli),
                           ("api", args.n if args.n_api is None else args.n_api)):
                if n:
                    work = Path(tmp) / f"{app.package_name}_{via}"
                    work.mkdir()
                    reports.append(run_entry_cases(app, cases(app, files, n, seed=args.seed + 1), via=via, folder=work))
            print(format_table(reports[-3:]), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(reports, indent=1))
    else:
        print(format_table(reports))
    bad = sum(s["crash"] + s["hang"] for r in reports for s in r["formats"].values())
    print(f"\n{bad} crash/hang cases", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
