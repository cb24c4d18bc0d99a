"""Measure static-INT8 settings across CPU classes: how far each quantized model is from its FP32 source.

Two steps, so the second can run on another CPU (or under ``qemu-x86_64 -cpu Haswell``, an AVX2 CPU
without AVX-512/VNNI, which is how the defaults in ``compress/quantize.py`` were chosen)::

    python scripts/quant_matrix.py build OUT      # quantize the shipped FP32 teachers with every setting
    python scripts/quant_matrix.py run OUT        # deviation per setting on *this* CPU (+ latency)

``build`` needs the training side (onnx, simulators); ``run`` needs only numpy and onnxruntime. The
deviation is the RMS difference from the FP32 model as a fraction of each regression target's range
(classification: share of samples whose class changes), the worst target reported. ``ref`` is the same
quantized graph with ORT's graph optimisations off (QDQ evaluated in float: what the quantization
means, on any CPU); ``cpu`` is the same graph with the optimised integer kernels of this CPU.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

SETTINGS = {  # name -> (activations_uint8, reduce_range, per_channel)
    "u8s8": (True, False, True),
    "u8s8_rr": (True, True, True),
    "s8s8": (False, False, True),
    "s8s8_rr": (False, True, True),
    "u8s8_rr_pt": (True, True, False),
}


def build(out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from edgeinv.common.app import all_apps
    from edgeinv.common.compress.quantize import QuantSettings, quantize_static_int8
    from edgeinv.common.config import REPO_ROOT

    out.mkdir(parents=True, exist_ok=True)
    index = {}
    for app in all_apps().values():
        for config in app.configs:
            src = REPO_ROOT / "models" / app.package_name / config / "teacher_fp32.onnx"
            if not src.is_file():
                continue
            tag = f"{app.package_name}.{config}"
            calib = app.simulate(128, rng=np.random.default_rng(7), config=config)
            test = app.simulate(96, rng=np.random.default_rng(8), config=config)
            np.savez(out / f"{tag}.npz", x=test.x.astype(np.float32))
            (out / f"{tag}.fp32.onnx").write_bytes(src.read_bytes())
            for name, (u8, rr, pc) in SETTINGS.items():
                quantize_static_int8(src, out / f"{tag}.{name}.onnx", calib.x,
                                     settings=QuantSettings(activations_uint8=u8, reduce_range=rr, per_channel=pc))
            index[tag] = {"app": app.name, "config": config,
                          "targets": [{"name": t.name, "range": t.range, "cls": t.is_classification}
                                      for t in app.targets]}
            print(f"built {tag}", file=sys.stderr)
    (out / "index.json").write_text(json.dumps(index, indent=1))


def _session(path, optimised: bool):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimised
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _run(sess, x):
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: x})))


def _deviation(targets, a, b) -> float:
    worst = 0.0
    for t in targets:
        if t["cls"]:
            worst = max(worst, float(np.mean(np.argmax(a[t["name"]], 1) != np.argmax(b[t["name"]], 1))))
        else:
            worst = max(worst, float(np.sqrt(np.mean((a[t["name"]] - b[t["name"]]) ** 2))) / t["range"])
    return worst


def run(out: Path, timing: bool) -> dict:
    index = json.loads((out / "index.json").read_text())
    report = {}
    for tag, info in index.items():
        x = np.load(out / f"{tag}.npz")["x"]
        fp32 = _run(_session(out / f"{tag}.fp32.onnx", True), x)
        row = {}
        for name in SETTINGS:
            path = out / f"{tag}.{name}.onnx"
            cpu_sess = _session(path, True)
            r = {"ref": _deviation(info["targets"], _run(_session(path, False), x), fp32),
                 "cpu": _deviation(info["targets"], _run(cpu_sess, x), fp32)}
            if timing:
                x1 = x[:1]
                for _ in range(20):
                    _run(cpu_sess, x1)
                t0 = time.perf_counter()
                for _ in range(200):
                    _run(cpu_sess, x1)
                r["ms"] = (time.perf_counter() - t0) / 200 * 1e3
            row[name] = r
        if timing:
            s = _session(out / f"{tag}.fp32.onnx", True)
            for _ in range(20):
                _run(s, x[:1])
            t0 = time.perf_counter()
            for _ in range(200):
                _run(s, x[:1])
            row["fp32_ms"] = (time.perf_counter() - t0) / 200 * 1e3
        report[tag] = row
        print(tag, json.dumps(row), file=sys.stderr, flush=True)
    return report


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("build", "run"):
        sys.exit(__doc__)
    folder = Path(sys.argv[2])
    if sys.argv[1] == "build":
        build(folder)
    else:
        print(json.dumps(run(folder, timing="--time" in sys.argv), indent=1))
