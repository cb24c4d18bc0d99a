"""(issue 13, stop 27) Where a shipped veg-cover variant spends its time on the 272 px tile, by ONNX Runtime operator
type (ORT's profiler, one thread, 200 runs; profiling inflates the totals, the shares are what matter). Run it natively
and as a CPU without AVX-512 / VNNI to see why INT8 does or does not beat FP32 on each:

    OMP_NUM_THREADS=1 .venv/bin/python docs/apps/veg_cover_trials/int8_ops.py teacher_fp32 teacher_int8
    python scripts/as_cpu.py avx2 -- .venv/bin/python docs/apps/veg_cover_trials/int8_ops.py teacher_fp32 teacher_int8
"""
import collections
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[3]
config = "multispectral5"
x = np.random.default_rng(1).random((1, 7, 272, 272)).astype(np.float32)
for variant in sys.argv[1:]:
    o = ort.SessionOptions()
    o.intra_op_num_threads = o.inter_op_num_threads = 1
    o.enable_profiling = True
    o.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "p")
    s = ort.InferenceSession(str(ROOT / "models" / "veg_cover" / config / f"{variant}.onnx"), sess_options=o,
                             providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    for _ in range(200):
        s.run(None, {name: x})
    events = json.loads(Path(s.end_profiling()).read_text())
    by_op = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"]
    total = sum(by_op.values())
    print(f"{variant}: {total / 200 / 1e3:.2f} ms per run (profiled); " + ", ".join(
        f"{op} {100 * us / total:.0f} %" for op, us in by_op.most_common(8)))
