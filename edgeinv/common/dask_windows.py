"""One large input split across Dask workers: ``edgeinv <app> predict BIG.tif --scheduler local|tcp://HOST:PORT``.

Apps that stream a raster tile by tile declare :attr:`App.splits_windows` and implement
:meth:`App.predict_windows` ``(sample, runner, tiles) -> [window, ...]``: read each tile with its
margin, run the model, return the cropped core windows (``{"row", "col", "cover", "std", "valid"}``
for veg-cover). :func:`split_windows` gives the app a ``run(tiles)`` for its tile loop: groups of
consecutive tiles go to the workers as tasks, and the windows come back **in tile order**, so the
calling process feeds its sinks (cover GeoTIFF, zone statistics) exactly as the single-process loop
does -- same model, one ONNX thread per worker, same tiles and margins, same order of additions: the
output is bit-identical (``tests/apps/veg_cover/test_tiling_dask.py`` compares every pixel).

What travels: the sample and a reference to the model are scattered to every worker once (the
sample pickles itself as "reopen this file", e.g. a GeoTIFF path; an ONNX model as its path and
thread count, loaded once per worker process). Remote workers (``tcp://``) therefore need edgeinv,
the same model files and the same input path. Only ``2 x workers`` groups are in flight at a time,
so the caller holds a bounded number of windows whatever the raster's size.

A window that fails on a worker stops the run with the tiles' position and the reason (a truncated
block, a model error, a worker that died); the app aborts its half-written outputs as on one process.
Dask is the optional ``scale`` extra: nothing here is imported unless ``--scheduler`` is given.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass

from .errors import ConfigError, EdgeinvError, InvalidInputError, ModelError

GROUP_TILES = 16  # tiles per task: 16 tiles of 256 px = 1 MP, ~0.4 s of work on one thread

_ACTIVE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("edgeinv_window_scheduler", default=None)


@dataclass(frozen=True)
class RunnerRef:
    """A picklable stand-in for an ONNX model: its file and thread count; loaded once per worker process."""

    path: str
    threads: int = 1

    def load(self):
        from .runtime.session import load_model

        return load_model(self.path, threads=self.threads)


@dataclass(frozen=True)
class WindowFailure:
    """What a worker returns instead of windows when its tiles could not be processed."""

    error: str
    message: str
    bad_input: bool


def runner_ref(runner):
    """An :class:`~.runtime.session.OnnxModel` travels as its path; this device's load switcher
    (:class:`~.runtime.switch.ModelSwitcher`) as its **accurate** model, which it runs when idle: per-tile
    switching by each worker's load would mix two models in one map; any other (picklable) runner as is."""
    from .runtime.session import OnnxModel
    from .runtime.switch import ModelSwitcher

    if isinstance(runner, ModelSwitcher):
        return runner_ref(runner.accurate)
    if isinstance(runner, OnnxModel):
        if runner.path.suffix == ".enc":
            raise ConfigError("--scheduler cannot ship a model encrypted for this device to other workers")
        return RunnerRef(str(runner.path), int(runner.threads))
    return runner


def _ran(runner) -> None:
    """A load switcher in this thread names the model its workers ran (the result's provenance reads it)."""
    from .runtime.switch import ModelSwitcher

    if isinstance(runner, ModelSwitcher):
        runner._local.variant = runner.last_variant = runner.names[0]  # its accurate model (runner_ref)


def run_group(app_name: str, sample, runner, tiles) -> list | WindowFailure:
    """One task, on a worker: ``App.predict_windows`` over ``tiles``; a failure comes back as a value."""
    from .app import get_app

    try:
        app = get_app(app_name)
        if isinstance(runner, RunnerRef):
            runner = runner.load()
        return app.predict_windows(sample, runner, tiles)
    except EdgeinvError as exc:
        return WindowFailure(type(exc).__name__, exc.message, isinstance(exc, (InvalidInputError, ConfigError)))
    except (ValueError, OSError, MemoryError) as exc:
        return WindowFailure(type(exc).__name__, str(exc), False)
    except Exception as exc:  # noqa: BLE001 - reported with its tiles by the caller, never a worker traceback
        return WindowFailure(type(exc).__name__, f"internal error: {exc}", False)


def local_cluster(workers: int):
    """A ``LocalCluster`` of ``workers`` one-thread processes, without Dask's ``MALLOC_TRIM_THRESHOLD_=65536``.

    Dask sets that in its workers to return memory to the OS sooner; for this work (arrays of 0.3-2 MB per
    tile, allocated and freed per tile) it makes glibc map and unmap them each time: measured on a
    3072^2 orthomosaic, 16 tiles took 0.355 s of CPU and 78k page faults in a worker with it, 0.26 s and
    26k without (0.25 s in one process).
    """
    import dask
    from dask.distributed import LocalCluster

    env = {k: v for k, v in dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}).items()
           if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
        return LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=logging.ERROR)


@contextlib.contextmanager
def dask_client(scheduler: str, workers: int | None = None):
    """A ``dask.distributed.Client``: a LocalCluster of ``workers`` one-thread processes for ``local``,
    else the running scheduler at ``tcp://HOST:PORT`` (waits up to 30 s for its first worker)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'edgeinv[scale]' (or run without --scheduler)") from None
    cluster = None
    if scheduler == "local":
        n = 2 if workers is None else int(workers)
        if n < 1:
            raise InvalidInputError(f"--workers must be >= 1, got {workers}")
        cluster = local_cluster(n)
        client = Client(cluster)
    elif str(scheduler).startswith(("tcp://", "tls://")):
        try:
            client = Client(str(scheduler), timeout="15s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        try:
            client.wait_for_workers(1, timeout=30)
        except (OSError, TimeoutError):
            client.close()
            raise ConfigError(f"the Dask scheduler {scheduler} has no workers") from None
    else:
        raise InvalidInputError(f"--scheduler must be 'local' or tcp://HOST:PORT, got {scheduler!r}")
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _where(tiles) -> str:
    r0, c0 = min(t.row for t in tiles), min(t.col for t in tiles)
    r1, c1 = max(t.row + t.height for t in tiles), max(t.col + t.width for t in tiles)
    return f"rows {r0}-{r1 - 1}, cols {c0}-{c1 - 1}"


def split_windows(app, sample, runner, *, scheduler: str, workers: int | None = None,
                  group_tiles: int = GROUP_TILES, progress: bool = True):
    """``run(tiles) -> iterator of windows`` (in tile order) computed by ``app.predict_windows`` on Dask workers."""
    if not getattr(app, "splits_windows", False):
        raise ConfigError(f"{app.name} cannot split one input across workers (--scheduler is for batch there)")
    if int(group_tiles) < 1:
        raise ConfigError(f"group_tiles must be >= 1, got {group_tiles}")
    ref = runner_ref(runner)

    def run(tiles):
        from tqdm import tqdm

        tiles = list(tiles)
        groups = [tiles[i:i + group_tiles] for i in range(0, len(tiles), group_tiles)]
        token = time.time_ns()
        with dask_client(scheduler, workers) as client:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            try:
                shared_sample, shared_runner = client.scatter([sample, ref], broadcast=True, hash=False)
            except (TypeError, AttributeError) as exc:
                raise ConfigError(f"this input cannot be sent to Dask workers ({exc}); run without --scheduler") from None
            pending: deque = deque()
            todo = iter(enumerate(groups))

            def submit() -> bool:
                item = next(todo, None)
                if item is None:
                    return False
                i, group = item
                pending.append((group, client.submit(run_group, app.name, shared_sample, shared_runner, group,
                                                     pure=False, key=f"edgeinv-windows-{token}-{i}")))
                return True

            while len(pending) < 2 * n_workers and submit():
                pass
            bar = tqdm(total=len(tiles), desc=f"{app.name} windows ({n_workers} workers)", unit="tile",
                       file=sys.stderr, disable=not progress)
            try:
                while pending:
                    group, fut = pending.popleft()
                    try:
                        out = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a worker died (KilledWorker) or lost the task
                        raise ModelError(f"window {_where(group)} failed on a Dask worker: "
                                         f"{type(exc).__name__}: {exc}") from None
                    if isinstance(out, WindowFailure):
                        cls = InvalidInputError if out.bad_input else ModelError
                        raise cls(f"window {_where(group)} failed: {out.message}")
                    submit()
                    yield from out
                    bar.update(len(group))
            finally:
                bar.close()
                for _, fut in pending:
                    fut.cancel()
            _ran(runner)

    return run


@contextlib.contextmanager
def scheduler(address: str | None, workers: int | None = None, *, group_tiles: int = GROUP_TILES,
              progress: bool = True):
    """Within this block, ``App.predict`` of an app that splits windows runs them on Dask (``address``:
    ``local`` or ``tcp://HOST:PORT``; None or ``none``: this process, as without the block).

    The CLI's ``predict --scheduler`` sets it; it is a property of the run, not of the analysis, so it is
    no predict option and changes no result.
    """
    if address in (None, "", "none"):
        yield
        return
    if not (address == "local" or str(address).startswith(("tcp://", "tls://"))):
        raise InvalidInputError(f"--scheduler must be 'local' or tcp://HOST:PORT, got {address!r}")
    if workers is not None and int(workers) < 1:
        raise InvalidInputError(f"--workers must be >= 1, got {workers}")
    token = _ACTIVE.set({"scheduler": str(address), "workers": workers, "group_tiles": int(group_tiles),
                         "progress": bool(progress)})
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active_split(app, sample, runner):
    """The app's ``windows`` function for its tile loop when a :func:`scheduler` block is active, else None."""
    active = _ACTIVE.get()
    if active is None:
        return None
    return split_windows(app, sample, runner, scheduler=active["scheduler"], workers=active["workers"],
                         group_tiles=active["group_tiles"], progress=active["progress"])
