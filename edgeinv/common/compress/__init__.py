"""Model compression for the edge: ORT quantization, structured pruning, distillation, and the
accuracy-aware search that picks the variant to ship.

``quantize`` and ``search`` need onnx/onnxruntime only; ``prune`` and ``distill`` need torch
(training side). Import the submodules directly.
"""
