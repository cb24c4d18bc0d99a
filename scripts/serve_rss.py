"""Resident memory of an edge-only serving process per app, after warm-up (issue 13: <= 150 MB per app).

For each app: start the real ``edgeinv --data-dir TMP <app> serve --port P`` (start-up self-test
included) in a process where **torch cannot be imported** (a stand-in ``torch`` package that raises
ImportError comes first on PYTHONPATH), wait for ``/healthz``, read its RSS; then create one
machine/field/flight and upload one small file through the JSON API (the load test's samples:
a 1.5 s WAV, a one-leaf spectra CSV, a 64 x 64 5-band GeoTIFF), read RSS again; a second upload and a
third reading show whether it keeps growing. veg-cover then also takes a JPEG and a PNG frame (RGB,
320 x 240, ``gsd_cm=5``) into a second flight, so the frame decoders and the RGB model are warmed up
too (``after_frames``); the reported RSS is the last reading. RSS = ``VmRSS`` of /proc/PID/status, peak = ``VmHWM``.

    .venv/bin/python scripts/serve_rss.py [APP ...] [--json]

Linux only (reads /proc). Nothing is written outside a temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT_MB = 150.0


def status_mb(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


def _blocker(folder: Path) -> Path:
    pkg = folder / "torch"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'torch\' (blocked: edge-only '
                                     'serving process)", name="torch")\n', encoding="utf-8")
    return folder


def measure(app_name: str, sample, work: Path) -> dict:
    sys.path.insert(0, str(REPO))
    from tests.load.harness import create_entity, free_port, request, upload

    port = free_port()
    data = work / f"data-{app_name}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(_blocker(work / "notorch")), str(REPO)]),
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    log = open(work / f"serve-{app_name}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "edgeinv.common.cli", "--data-dir", str(data), app_name, "serve",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    row = {"app": app_name}
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{app_name}: server exited ({(work / f'serve-{app_name}.log').read_text()[-400:]})")
            try:
                status, _, _ = request("127.0.0.1", port, "GET", "/healthz", timeout=5)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app_name}: no /healthz after 300 s")
            time.sleep(0.5)
        row["started"] = status_mb(proc.pid)
        entity = create_entity(port, sample)
        for i in (1, 2):
            status, _, body = upload(port, sample, entity, key=f"rss-{i}")
            if status != 201:
                raise RuntimeError(f"{app_name}: upload answered {status}: {body[:300]!r}")
            row[f"after_upload_{i}"] = status_mb(proc.pid)
        if app_name == "veg-cover":
            _upload_frames(port, sample, work)
            row["after_frames"] = status_mb(proc.pid)
        with open(f"/proc/{proc.pid}/maps", encoding="ascii", errors="replace") as fh:
            maps = fh.read()
        row["torch_mapped"] = "libtorch" in maps
        row["opencv_mapped"] = "cv2" in maps
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    last = row.get("after_frames") or row["after_upload_2"]
    row["rss_mb"] = last["VmRSS"]
    row["peak_mb"] = last["VmHWM"]
    row["within_limit"] = row["rss_mb"] <= LIMIT_MB
    return row


def _upload_frames(port: int, sample, work: Path) -> None:
    """A JPEG and a PNG frame (RGB, plants on soil) into a second veg-cover flight."""
    import dataclasses
    import io

    import numpy as np
    from PIL import Image

    from tests.load.harness import create_entity, upload

    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:240, :320]
    img = np.empty((240, 320, 3), np.uint8)
    img[:] = (150, 115, 85)
    for cy, cx in rng.uniform((0, 0), (240, 320), (25, 2)):
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 150] = (70, 150, 50)
    img = np.clip(img + rng.integers(0, 8, img.shape), 0, 255).astype(np.uint8)
    flight = create_entity(port, dataclasses.replace(sample, create_body={"name": "frames"}))
    for fmt, name in (("JPEG", "frame.jpg"), ("PNG", "frame.png")):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, fmt)
        frame = dataclasses.replace(sample, data=buf.getvalue(), filename=name, query="&gsd_cm=5")
        status, _, body = upload(port, frame, flight, key=f"rss-{name}")
        if status != 201:
            raise RuntimeError(f"veg-cover: {name} upload answered {status}: {body[:300]!r}")


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    names = [a for a in argv if not a.startswith("--")]
    sys.path.insert(0, str(REPO))
    from tests.load.harness import make_samples

    with tempfile.TemporaryDirectory(prefix="serve-rss-") as tmp:
        work = Path(tmp)
        samples = {s.app: s for s in make_samples(work / "samples")}
        rows = [measure(n, samples[n], work) for n in (names or list(samples))]
    if as_json:
        print(json.dumps({"limit_mb": LIMIT_MB, "rows": rows}, indent=2))
    else:
        print(f"{'app':<15} {'started MB':>10} {'1 upload':>9} {'2 uploads':>9} {'+frames':>8} {'peak MB':>8}"
              f"  <= {LIMIT_MB:g} MB")
        for r in rows:
            frames = r.get("after_frames", {}).get("VmRSS", "-")
            print(f"{r['app']:<15} {r['started']['VmRSS']:>10} {r['after_upload_1']['VmRSS']:>9} "
                  f"{r['after_upload_2']['VmRSS']:>9} {frames:>8} {r['peak_mb']:>8}  "
                  f"{'yes' if r['within_limit'] else 'NO'}")
        print("RSS = VmRSS of the `edgeinv <app> serve` process (torch blocked); peak = its VmHWM; +frames: "
              "veg-cover after a JPEG and a PNG frame as well")
    return 0 if all(r["within_limit"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
