"""Inspect an ONNX graph without running it: parameters, FLOPs, operator counts, metadata.

Edge side (onnx + numpy). FLOPs are counted as 2 x multiply-accumulates for the layers that
dominate these models -- Conv, ConvTranspose, Gemm, MatMul and their integer forms
(ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul) -- from shapes inferred by
``onnx.shape_inference`` with the batch fixed to 1 and the nominal input size of the metadata.
Element-wise ops, pooling and normalisation are ignored (a few per cent on conv nets).
Parameters are the elements of all initializers except quantization scales and zero points.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import ModelError

__all__ = ["graph_stats", "count_ops", "write_metadata", "QUANT_OPS"]

QUANT_OPS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
             "QLinearConv", "QLinearMatMul")
_SCALE_INPUTS = {"QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2), "QLinearConv": (1, 2, 4, 5, 6, 7),
                 "QLinearMatMul": (1, 2, 4, 5, 6, 7), "MatMulInteger": (2, 3), "ConvInteger": (2, 3)}


def _load(path):
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"cannot read ONNX file {path}: {exc}") from None


def count_ops(path: str | Path) -> Counter:
    """How many nodes of each operator type the graph holds."""
    return Counter(n.op_type for n in _load(path).graph.node)


def write_metadata(path: str | Path, props: dict) -> None:
    """Set (or replace) metadata_props of an ONNX file in place; non-strings are stored as JSON."""
    import onnx

    model = _load(path)
    existing = {p.key: p.value for p in model.metadata_props}
    for k, v in props.items():
        existing[k] = v if isinstance(v, str) else json.dumps(v)
    del model.metadata_props[:]
    for k, v in existing.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))


def _fixed_input_model(model, input_shape):
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {i.name for i in m.graph.initializer}
    graph_inputs = [i for i in m.graph.input if i.name not in inits]
    for inp in graph_inputs:
        dims = inp.type.tensor_type.shape.dim
        want = [1, *input_shape] if input_shape is not None and len(input_shape) + 1 == len(dims) else None
        for j, d in enumerate(dims):
            if d.dim_value > 0:
                continue
            value = want[j] if want else 1
            d.Clear()
            d.dim_value = int(value)
    del m.graph.value_info[:]
    for o in m.graph.output:
        o.type.tensor_type.ClearField("shape")  # unknown, so inference fills it at the fixed size
    return onnx.shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)


def graph_stats(path: str | Path, *, input_shape=None) -> dict:
    """``{"params", "flops", "macs", "ops"}`` of an ONNX model at batch 1.

    ``input_shape`` (without batch) defaults to the ``input_shape`` in the file's metadata.
    """
    from onnx import numpy_helper

    model = _load(path)
    if input_shape is None:
        meta = {p.key: p.value for p in model.metadata_props}
        if "input_shape" in meta:
            input_shape = json.loads(meta["input_shape"])
    inferred = _fixed_input_model(model, input_shape)
    g = inferred.graph
    shapes: dict[str, list[int]] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.dim_value > 0 else 0 for d in dims]
    for init in g.initializer:
        shapes[init.name] = list(init.dims)

    skip = set()
    for n in g.node:
        for pos in _SCALE_INPUTS.get(n.op_type, ()):
            if pos < len(n.input):
                skip.add(n.input[pos])
    params = int(sum(int(np.prod(i.dims)) for i in g.initializer if i.name not in skip))
    # constants created by Constant nodes (some exporters fold weights into them)
    for n in g.node:
        if n.op_type == "Constant" and n.output[0] not in skip:
            for a in n.attribute:
                if a.name == "value":
                    arr = numpy_helper.to_array(a.t)
                    if arr.size > 1:
                        params += int(arr.size)

    macs = 0
    for n in g.node:
        op = n.op_type
        if op in ("Conv", "ConvInteger", "QLinearConv"):
            w_in = n.input[3] if op == "QLinearConv" else n.input[1]
            y = shapes.get(n.output[0])
            w = shapes.get(w_in)
            if y and w and all(y) and all(w):
                macs += int(np.prod(y)) * int(np.prod(w[1:]))
        elif op == "ConvTranspose":
            x, w = shapes.get(n.input[0]), shapes.get(n.input[1])  # w: (C_in, C_out / group, k...)
            if x and w and all(x) and all(w):
                macs += int(np.prod(x)) * w[1] * int(np.prod(w[2:]))
        elif op in ("Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"):
            a_in = n.input[0]
            y = shapes.get(n.output[0])
            a = shapes.get(a_in)
            if op == "Gemm":
                trans_a = next((x.i for x in n.attribute if x.name == "transA"), 0)
                k = a[0] if (a and trans_a) else (a[-1] if a else 0)
            else:
                k = a[-1] if a else 0
            if y and all(y) and k:
                macs += int(np.prod(y)) * int(k)
    ops = Counter(n.op_type for n in model.graph.node)
    return {"params": params, "macs": int(macs), "flops": int(2 * macs), "ops": dict(ops)}
