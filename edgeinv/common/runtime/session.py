"""One ONNX Runtime session per model file: thread caps, providers, metadata, physical-unit outputs.

Edge side: imports onnxruntime and numpy only. The session is built with all graph optimisations
(``ORT_ENABLE_ALL``), sequential execution and, by default, one intra-op thread -- the situation
on a small ARM board. :func:`load_model` caches one session per (file, threads, providers) per
process, so a web server builds it once and every request reuses it.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InvalidInputError, ModelError

__all__ = ["OnnxModel", "load_model", "read_metadata", "clear_cache"]

#: metadata_props keys written by :mod:`edgeinv.common.export` whose values are JSON documents
JSON_KEYS = ("targets", "output_names", "input_shape", "normalisation", "dynamic_axes", "parity", "quantization")
#: sessions :meth:`OnnxModel.prepare` keeps per model (the oldest goes first): a caller's tile option cannot grow them
MAX_PREPARED = 2


def _parse_metadata(props: dict[str, str]) -> dict:
    meta: dict = {}
    for key, value in props.items():
        if key in JSON_KEYS or value[:1] in ("{", "["):
            try:
                meta[key] = json.loads(value)
            except json.JSONDecodeError:
                meta[key] = value
        else:
            meta[key] = value
    return meta


def read_metadata(path: str | Path) -> dict:
    """The edgeinv metadata of an ONNX file without building a session (JSON values parsed)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError/OSError variants
        raise ModelError(f"cannot read ONNX file {path}: {exc}") from None
    return _parse_metadata({p.key: p.value for p in model.metadata_props})


class OnnxModel:
    """An ONNX Runtime inference session that maps a batch to a dict of named outputs.

    Parameters
    ----------
    path : the ``.onnx`` file (as written by :func:`edgeinv.common.export.export_onnx`).
    threads : intra-op threads (default 1, as on a small device).
    providers : ONNX Runtime execution providers, in preference order.
    key : device key for a model encrypted at rest (``*.enc``, see
        :func:`edgeinv.common.runtime.bundle.encrypt_file`); decrypted in memory only.
    optimize : graph optimisations on (default). ``False`` evaluates the graph node by node as written
        (QDQ pairs in float, no fused integer kernels): the CPU-independent reference of what a quantized
        model means, which the golden set's reference deviations are measured with.

    Calling the model with ``x`` of shape ``(n, *input_shape)`` returns ``{output_name: array}``
    with the batch axis first, in physical units (the de-normalisation is inside the graph).
    """

    def __init__(self, path: str | Path, *, threads: int = 1,
                 providers: Sequence[str] = ("CPUExecutionProvider",), key: bytes | None = None,
                 optimize: bool = True):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}", hint="run `make models`")
        if int(threads) < 1:
            raise InvalidInputError(f"threads must be >= 1, got {threads!r}")
        self.threads = int(threads)
        self.optimize = bool(optimize)
        opts = self._options()
        available = set(ort.get_available_providers())
        unknown = [p for p in providers if p not in available]
        if unknown:
            raise ModelError(f"execution provider(s) {unknown} not available; available: {sorted(available)}")
        source: str | bytes = str(self.path)
        if self.path.suffix == ".enc":
            from .bundle import decrypt_file, device_model_key

            if key is None:  # encrypted at rest for this device: model_key.json + the device key
                key = device_model_key(self.path)

            source = decrypt_file(self.path, key)
        try:
            self.session = ort.InferenceSession(source, sess_options=opts, providers=list(providers))
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph classes
            raise ModelError(f"cannot load ONNX model {self.path.name}: {exc}") from None
        self._source = source
        self._fixed: dict[tuple[int, ...], object] = {}  # input shape -> a session planned for it (prepare)
        self._lock = threading.Lock()
        self.providers = tuple(providers)
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{self.path.name}: expected one graph input, found {len(inputs)}")
        self.input_name = inputs[0].name
        self.input_rank = len(inputs[0].shape)
        self._input_dims = inputs[0].shape
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.metadata = _parse_metadata(dict(self.session.get_modelmeta().custom_metadata_map))

    def _options(self, fixed: dict[str, int] | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if self.optimize
                                         else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        opts.log_severity_level = 3
        # No CPU memory arena: the arena keeps its largest run's activations for the session's life (veg-cover
        # on 272 px tiles: +16 MB for a student, +48 MB for the RGB teacher, each session of a serving process);
        # without it they go back to malloc (trimmed after each analysis). Same speed for the students,
        # the 32-wide RGB teacher ~15 % slower per tile (interleaved, issue 13).
        opts.enable_cpu_mem_arena = False
        if self.threads == 1:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        for name, value in (fixed or {}).items():
            opts.add_free_dimension_override_by_name(name, int(value))
        return opts

    def prepare(self, shape: Sequence[int]) -> bool:
        """Plan a second session for inputs of exactly ``shape`` (a caller about to send thousands of them).

        The graph's free input dimensions (batch, height, width) are fixed to ``shape``'s sizes
        (``add_free_dimension_override_by_name``), so ONNX Runtime folds the shape arithmetic and plans the
        activations' memory once: veg-cover's multispectral5 teacher on a 272 px tile 1.2-1.5x faster than the
        same graph with free dimensions (interleaved, issue 13, stop 26), outputs equal to ~1e-6. Calls with that
        shape then run there, any other shape on the general session; the last :data:`MAX_PREPARED` shapes are
        kept. False (nothing to do) when the model
        has no free input dimension, or when ONNX Runtime cannot build the planned session (the general one
        serves then); the shape must fit the model's fixed ones.
        """
        shape = tuple(int(v) for v in shape)
        if len(shape) != self.input_rank or any(v < 1 for v in shape) or any(
                isinstance(want, int) and want != got for want, got in zip(self._input_dims, shape)):
            raise InvalidInputError(f"cannot prepare {self.path.name} for shape {shape}: input is {self._input_dims}")
        free = {want: got for want, got in zip(self._input_dims, shape) if isinstance(want, str) and want}
        if not free or len(free) != sum(not isinstance(w, int) for w in self._input_dims):
            return False  # static already, or an unnamed / shared free dimension that cannot be fixed by name
        with self._lock:
            if shape not in self._fixed:
                import onnxruntime as ort

                try:
                    session = ort.InferenceSession(self._source, sess_options=self._options(free),
                                                   providers=list(self.providers))
                except Exception:  # noqa: BLE001 - an optimisation only: the general session runs every shape
                    return False
                while len(self._fixed) >= MAX_PREPARED:
                    self._fixed.pop(next(iter(self._fixed)))
                self._fixed[shape] = session
        return True

    @property
    def variant(self) -> str:
        return str(self.metadata.get("variant", self.path.stem))

    def _check(self, x) -> np.ndarray:
        try:
            x = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError):
            raise InvalidInputError("model input must be a numeric array") from None
        if x.ndim != self.input_rank:
            raise InvalidInputError(
                f"model input must have {self.input_rank} axes (batch first) {self._input_dims}, got shape {x.shape}")
        for axis, (want, got) in enumerate(zip(self._input_dims, x.shape)):
            if isinstance(want, int) and want != got:
                raise InvalidInputError(f"model input axis {axis} must have size {want}, got shape {x.shape}")
        if x.shape[0] == 0:
            raise InvalidInputError("model input batch is empty")
        if not np.all(np.isfinite(x)):
            raise InvalidInputError("model input holds NaN or infinite values")
        return np.ascontiguousarray(x)

    def __call__(self, x) -> dict[str, np.ndarray]:
        x = self._check(x)
        try:
            outs = self._fixed.get(x.shape, self.session).run(None, {self.input_name: x})
        except Exception as exc:
            raise InvalidInputError(f"model {self.path.name} rejected input of shape {x.shape}: {exc}") from None
        return {name: np.asarray(o, dtype=np.float32) for name, o in zip(self.output_names, outs)}

    def __repr__(self) -> str:
        return f"OnnxModel({self.path.name!r}, threads={self.threads})"


_CACHE: dict[tuple, OnnxModel] = {}
_LOCK = threading.Lock()


def load_model(path: str | Path, threads: int = 1, *,
               providers: Sequence[str] = ("CPUExecutionProvider",)) -> OnnxModel:
    """The process-wide :class:`OnnxModel` for ``path`` (built once; rebuilt if the file changed)."""
    p = Path(path).resolve()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ModelError(f"model file not found: {p}", hint="run `make models`") from None
    key = (str(p), int(threads), tuple(providers), st.st_mtime_ns, st.st_size)
    with _LOCK:
        model = _CACHE.get(key)
        if model is None:
            for old in [k for k in _CACHE if k[:3] == key[:3]]:
                del _CACHE[old]
            model = _CACHE[key] = OnnxModel(p, threads=threads, providers=providers)
    return model


def clear_cache() -> None:
    """Forget every cached session (tests, or after installing new models)."""
    with _LOCK:
        _CACHE.clear()
