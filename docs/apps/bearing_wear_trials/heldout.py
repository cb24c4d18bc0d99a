import numpy as np
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.common.runtime.bench import _heldout
from edgeinv.common.runtime.session import OnnxModel
runner = OnnxModel("models/bearing_wear/default/student_fp32.onnx", threads=1)
ds = _heldout(APP, "default", 100003, 1000, None)
out = runner(ds.x)
pred = np.argmax(np.asarray(out["fault"]), axis=1)
y = np.asarray(ds.y["fault"]) if isinstance(ds.y, dict) else None
print(type(ds.y), getattr(ds, "y", None) if not isinstance(ds.y, dict) else list(ds.y))
if y is not None:
    print("accuracy", float(np.mean(pred == y)))
    s = np.asarray(ds.y["defect_size_mm"]); m = np.asarray(out["defect_size_mm"]).reshape(-1)
    sp = s > 0; print("size rmse all", float(np.sqrt(np.mean((m - s) ** 2))), "spalls", float(np.sqrt(np.mean((m[sp] - s[sp]) ** 2))))
