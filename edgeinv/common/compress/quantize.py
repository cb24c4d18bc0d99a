"""Post-training quantization with ONNX Runtime's tooling: static INT8 QDQ, dynamic INT8, FP16.

Static INT8 follows ONNX Runtime's recipe (onnxruntime.ai/docs/performance/model-optimizations/
quantization.html): ``quant_pre_process`` (symbolic shape inference + graph optimisation) first,
then ``quantize_static`` in QDQ format with per-channel weights, calibrated on representative
*preprocessed* inputs through a :class:`CalibrationDataReader`, with MinMax, Entropy or
Percentile calibration (:class:`CalibrationMethod`). The tail of the graph that maps the network's
outputs to physical units / probabilities (the export wrapper: Mul, Add, Exp, Softmax...) is kept
in float so the de-normalised outputs are not rounded to 256 levels.

Defaults are chosen by measurement across CPU classes (``scripts/quant_matrix.py``, README "Same answers
on every CPU"): U8 activations with S8 weights, **7-bit weights** (``reduce_range``) and per-channel
scales. Full 8-bit weights saturate ONNX Runtime's U8S8 kernels on x86-64 CPUs without VNNI (the
16-bit pair sums of VPMADDUBSW): on an AVX2 CPU a toy signal model drifted by 14 % of its target's
range and a leaf model by 14 %, against 0.3 % and 5 % (its QDQ reference) with 7-bit weights. S8S8 is
accurate everywhere but runs as float on x86 (no fused kernel): 2-5x slower than FP32 here. Every
variant records the CPU classes it is meant for (:func:`cpu_classes_for`), and ``edgeinv selftest``
checks it on the device itself.

Dynamic INT8 quantizes weights offline and activations at run time (MatMulInteger/ConvInteger
with DynamicQuantizeLinear). FP16 stores weights and computes in half precision with float32
inputs/outputs (onnxconverter_common if installed, else onnxruntime.transformers.float16).
"""

from __future__ import annotations

import contextlib
import enum
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InvalidInputError, ModelError
from ..runtime.graphstats import QUANT_OPS, count_ops, write_metadata
from ..runtime.session import read_metadata

__all__ = ["CalibrationMethod", "QuantSettings", "ArrayCalibrationReader", "quantize_static_int8",
           "quantize_dynamic_int8", "convert_fp16", "quantized_op_counts", "cpu_classes_for"]

ALL_CPU_CLASSES = ("x86-64-vnni", "x86-64-avx512", "x86-64-avx2", "x86-64-sse", "arm64-dotprod", "arm64-neon")
_EXACT_DOT_CLASSES = ("x86-64-vnni", "arm64-dotprod", "arm64-neon")


def cpu_classes_for(quantization: dict | None) -> list[str]:
    """The CPU classes (:mod:`edgeinv.common.runtime.cpu`) on which a variant computes what it was validated as.

    FP32/FP16 and INT8 without U8xS8 pair saturation (7-bit weights, S8S8, U8U8) run right everywhere;
    U8 activations x full 8-bit S8 weights only where the dot product is exact (VNNI, ARM).
    """
    q = quantization or {}
    kind = q.get("kind")
    if kind == "static_qdq" and q.get("activation_type", "uint8") == "uint8" \
            and q.get("weight_type", "int8") == "int8" and not q.get("reduce_range", False):
        return list(_EXACT_DOT_CLASSES)
    if kind == "dynamic" and q.get("weight_type") == "int8" and not q.get("reduce_range", False):
        return list(_EXACT_DOT_CLASSES)
    return list(ALL_CPU_CLASSES)

COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


class CalibrationMethod(enum.Enum):
    MINMAX = "minmax"
    ENTROPY = "entropy"
    PERCENTILE = "percentile"


@dataclass(frozen=True)
class QuantSettings:
    """Static INT8 settings.

    method : how activation ranges are calibrated (MinMax is the robust default for small nets).
    per_channel : one weight scale per output channel (recommended for conv nets).
    percentile : clipping percentile for ``PERCENTILE`` calibration.
    activations_uint8 : U8 activations with S8 weights (the fast path on x86/ARM); False -> S8/S8.
    reduce_range : 7-bit weights: no saturation of U8S8 kernels on x86-64 without VNNI (default on;
        full 8-bit weights are right only on VNNI x86 and ARM, see :func:`cpu_classes_for`).
    keep_float_tail : leave the output de-normalisation tail in float.
    calib_batch : rows per calibration batch.
    """

    method: CalibrationMethod = CalibrationMethod.MINMAX
    per_channel: bool = True
    percentile: float = 99.999
    activations_uint8: bool = True
    reduce_range: bool = True
    keep_float_tail: bool = True
    calib_batch: int = 8

    def __post_init__(self):
        if not isinstance(self.method, CalibrationMethod):
            raise ConfigError(f"QuantSettings.method must be one of {[m.value for m in CalibrationMethod]}, "
                              f"got {self.method!r}")
        if not 50.0 < float(self.percentile) <= 100.0:
            raise ConfigError(f"QuantSettings.percentile must be in (50, 100], got {self.percentile!r}")
        if int(self.calib_batch) < 1:
            raise ConfigError(f"QuantSettings.calib_batch must be >= 1, got {self.calib_batch!r}")


def _calibration_reader_base():
    from onnxruntime.quantization import CalibrationDataReader

    return CalibrationDataReader


class ArrayCalibrationReader(_calibration_reader_base()):
    """Feeds representative preprocessed inputs ``x`` (n, ...) to the calibrator in batches."""

    def __init__(self, x: np.ndarray, input_name: str = "x", *, batch: int = 8):
        x = np.asarray(x, dtype=np.float32)
        if x.ndim < 2 or len(x) == 0:
            raise InvalidInputError(f"calibration data must be a non-empty batch, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise InvalidInputError("calibration data holds NaN or infinite values")
        self.x, self.input_name, self.batch = x, input_name, int(batch)
        self._i = 0

    def get_next(self):
        if self._i >= len(self.x):
            return None
        chunk = self.x[self._i:self._i + self.batch]
        self._i += self.batch
        return {self.input_name: np.ascontiguousarray(chunk)}

    def rewind(self):
        self._i = 0


def _input_name(path) -> str:
    import onnx

    model = onnx.load(str(path))
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits][0]


def _float_tail(path) -> list[str]:
    """Names of nodes between the last compute op (Conv/Gemm/MatMul) and the graph outputs."""
    import onnx

    g = onnx.load(str(path)).graph
    producer = {o: n for n in g.node for o in n.output}
    tail, stack, seen = [], [o.name for o in g.output], set()
    while stack:
        name = stack.pop()
        node = producer.get(name)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op_type in COMPUTE_OPS:
            continue
        tail.append(node.name)
        stack.extend(node.input)
    return tail


def _preprocess(src: Path, dst: Path) -> None:
    """``quant_pre_process`` of ``src`` into ``dst`` (a file in a temporary folder).

    When ONNX Runtime's symbolic shape inference cannot finish (e.g. a ConvTranspose output on dynamic
    height/width), it saves ``sym_shape_infer_temp.onnx`` plus external-data files into the *current*
    directory before raising; the attempt therefore runs from ``dst``'s folder so nothing lands where the
    command was started (the repository, a user's data folder). ONNX's own shape inference still runs then.
    """
    from onnxruntime.quantization import quant_pre_process

    src, dst = Path(src).resolve(), Path(dst).resolve()
    try:
        with contextlib.chdir(dst.parent):
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=False)
    except Exception:  # symbolic shape inference can fail on unusual graphs; ONNX's own still runs
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)


def _finish(src: Path, dst: Path, variant: str | None, fmt: str, extra: dict) -> dict:
    meta = read_metadata(src)
    props = {k: v for k, v in meta.items()}
    if variant:
        props["variant"] = variant
    props["format"] = fmt
    props.update(extra)
    write_metadata(dst, props)
    return quantized_op_counts(dst)


def quantized_op_counts(path) -> dict[str, int]:
    """Counts of the quantization operators in a graph (QuantizeLinear, MatMulInteger...)."""
    ops: Counter = count_ops(path)
    return {op: int(ops.get(op, 0)) for op in QUANT_OPS if ops.get(op, 0)}


def quantize_static_int8(fp32_path: str | Path, out_path: str | Path, calib_x: np.ndarray, *,
                         settings: QuantSettings = QuantSettings(), variant: str | None = None) -> dict:
    """Static INT8 QDQ quantization of an FP32 ONNX model; returns the quantized operator counts."""
    from onnxruntime.quantization import CalibrationMethod as OrtCalib
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    ort_method = {CalibrationMethod.MINMAX: OrtCalib.MinMax, CalibrationMethod.ENTROPY: OrtCalib.Entropy,
                  CalibrationMethod.PERCENTILE: OrtCalib.Percentile}[settings.method]
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        _preprocess(fp32_path, pre)
        reader = ArrayCalibrationReader(calib_x, _input_name(pre), batch=settings.calib_batch)
        extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
        if settings.method is CalibrationMethod.PERCENTILE:
            extra["CalibPercentile"] = float(settings.percentile)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                quantize_static(str(pre), str(out_path), reader, quant_format=QuantFormat.QDQ,
                                per_channel=settings.per_channel, reduce_range=settings.reduce_range,
                                activation_type=QuantType.QUInt8 if settings.activations_uint8 else QuantType.QInt8,
                                weight_type=QuantType.QInt8, calibrate_method=ort_method,
                                nodes_to_exclude=_float_tail(pre) if settings.keep_float_tail else None,
                                extra_options=extra, calibration_cache_path=Path(tmp) / "calib")
        except Exception as exc:
            raise ModelError(f"static INT8 quantization of {fp32_path.name} failed: {exc}") from exc
    return _finish(fp32_path, out_path, variant, "int8",
                   {"quantization": {"kind": "static_qdq", "method": settings.method.value,
                                     "per_channel": settings.per_channel, "n_calibration": int(len(calib_x)),
                                     "reduce_range": settings.reduce_range,
                                     "activation_type": "uint8" if settings.activations_uint8 else "int8",
                                     "weight_type": "int8"}})


def quantize_dynamic_int8(fp32_path: str | Path, out_path: str | Path, *, per_channel: bool = True,
                          variant: str | None = None,
                          op_types: tuple[str, ...] = ("MatMul", "Gemm", "Conv")) -> dict:
    """Dynamic INT8 (weights offline, activations at run time); returns the quantized operator counts."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        _preprocess(fp32_path, pre)
        # U8 weights (U8U8 kernels widen to 16 bits before multiplying: no saturation on any CPU) when
        # ConvInteger is involved (it takes U8 only); S8 weights for MatMul-only graphs, then 7-bit.
        weight_type = QuantType.QUInt8 if "Conv" in op_types else QuantType.QInt8
        try:
            quantize_dynamic(str(pre), str(out_path), per_channel=per_channel, weight_type=weight_type,
                             op_types_to_quantize=list(op_types), nodes_to_exclude=_float_tail(pre),
                             reduce_range=weight_type == QuantType.QInt8)
        except Exception as exc:
            raise ModelError(f"dynamic INT8 quantization of {fp32_path.name} failed: {exc}") from exc
    counts = _finish(fp32_path, out_path, variant, "int8-dynamic",
                     {"quantization": {"kind": "dynamic", "per_channel": per_channel, "op_types": list(op_types),
                                       "weight_type": "uint8" if weight_type == QuantType.QUInt8 else "int8",
                                       "reduce_range": weight_type == QuantType.QInt8}})
    if not counts:
        raise ModelError(f"dynamic INT8 found nothing to quantize in {fp32_path.name} (ops {list(op_types)})")
    return counts


def convert_fp16(fp32_path: str | Path, out_path: str | Path, *, variant: str | None = None) -> dict:
    """FP16 weights and compute, float32 graph inputs/outputs; returns the operator counts of Cast."""
    import onnx

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    model = onnx.load(str(fp32_path))
    try:
        try:
            from onnxconverter_common import float16 as f16
        except ImportError:
            from onnxruntime.transformers import float16 as f16
        tail = set(_float_tail(fp32_path))
        converted = f16.convert_float_to_float16(model, keep_io_types=True,
                                                 node_block_list=[n for n in tail if n] or None)
    except Exception as exc:
        raise ModelError(f"FP16 conversion of {fp32_path.name} failed: {exc}") from exc
    _toposort(converted.graph)
    onnx.save(converted, str(out_path))
    try:
        onnx.checker.check_model(str(out_path))
    except Exception as exc:
        raise ModelError(f"FP16 model of {fp32_path.name} fails onnx.checker: {exc}") from exc
    _finish(fp32_path, out_path, variant, "fp16", {"quantization": {"kind": "fp16", "io": "float32"}})
    return {"Cast": int(count_ops(out_path).get("Cast", 0))}


def _toposort(graph) -> None:
    """Reorder graph nodes topologically in place (the FP16 converter appends its IO casts)."""
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise ModelError("graph has a cycle or an undefined input; cannot sort it")
        for n in ready:
            ordered.append(n)
            known.update(n.output)
        pending = [n for n in pending if all(n is not r for r in ready)]
    copies = [type(n)() for n in ordered]
    for c, n in zip(copies, ordered):
        c.CopyFrom(n)
    del graph.node[:]
    graph.node.extend(copies)
