"""Batch runs: many files (a folder or a glob) through an app, in this process or on a Dask cluster.

``edgeinv <app> batch DIR_OR_GLOB [--scheduler local|tcp://HOST:PORT] [--workers N] [--entity NAME]``.
Without ``--scheduler`` the files run one after the other in this process (no Dask needed, as on an
edge device). With ``--scheduler local`` a ``dask.distributed.LocalCluster`` of ``--workers``
single-threaded worker processes runs them; ``tcp://HOST:PORT`` uses a running scheduler whose
workers have edgeinv and the same models installed (the ``scale`` extra). Each worker loads the
model once per process; files are read from the paths given, so remote workers need the same paths.

Every file is one task: read -> predict -> summary (see :mod:`.analyse`), computed the same way on
either path, so a batch's stored results equal the single-process ones. A file that fails is
reported with its reason and the others continue. Results are stored by this process only (one
SQLite writer), in input order, under one entity (``--entity``, default ``batch <folder>``).
"""

from __future__ import annotations

import glob
import logging
import sys
import time
from pathlib import Path

from ..errors import EdgeinvError, InvalidInputError

log = logging.getLogger("edgeinv.batch")

_RUNNERS: dict = {}  # per worker process: (app, config, models_dir, threads) -> runner


def expand(source: str) -> list[Path]:
    """The files of a folder (sorted, no hidden files), a glob pattern, or one file."""
    p = Path(source)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
    elif p.is_file():
        files = [p]
    else:
        files = sorted(Path(f) for f in glob.glob(str(source), recursive=True) if Path(f).is_file())
    if not files:
        raise InvalidInputError(f"no files found for {source!r} (give a folder, a file or a glob such as 'data/*.wav')")
    return files


def _runner(app, settings, config: str):
    from ..analysis import device_runner  # the device's runner, as for an upload (same numbers)

    key = (app.name, config, str(settings.models_dir), int(settings.threads))
    if key not in _RUNNERS:
        _RUNNERS[key] = device_runner(app, settings, config)
    return _RUNNERS[key]


def analyse_file(app_name: str, path: str, settings, meta: dict, entity: dict | None = None) -> dict:
    """One task (runs in a worker): ``{"path", "ok": True, "summary", "blobs"}`` or ``{"path", "ok": False, "error", "reason"}``."""
    from ..app import get_app
    from .analyse import analyse

    path = str(path)
    try:
        app = get_app(app_name)
        updates: list = []
        summary, blobs = analyse(app, Path(path), filename=Path(path).name, meta=dict(meta),
                                 runner_for=lambda config: _runner(app, settings, config), entity=entity, source="flag",
                                 updates=updates)
        return {"path": path, "ok": True, "summary": summary, "blobs": blobs,
                "entity_update": updates[0] if updates else None}
    except EdgeinvError as exc:
        return {"path": path, "ok": False, "error": type(exc).__name__, "reason": exc.message}
    except (ValueError, OSError, MemoryError) as exc:
        return {"path": path, "ok": False, "error": type(exc).__name__, "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        return {"path": path, "ok": False, "error": type(exc).__name__, "reason": f"internal error: {exc}"}


def _iter_results(app, settings, files, meta, entity, *, scheduler, workers):
    """Yield ``(index, outcome)`` as files finish."""
    if not scheduler or scheduler == "none":
        for i, f in enumerate(files):
            yield i, analyse_file(app.name, str(f), settings, meta, entity)
        return
    from ..dask_windows import dask_client  # the LocalCluster/remote client of predict --scheduler too

    with dask_client(scheduler, workers) as client:
        from dask.distributed import as_completed

        futures = [client.submit(analyse_file, app.name, str(f), settings, meta, entity, pure=False,
                                 key=f"edgeinv-batch-{i}-{time.time_ns()}") for i, f in enumerate(files)]
        index = {fut.key: i for i, fut in enumerate(futures)}
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                yield i, fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker died on this file
                yield i, {"path": str(files[i]), "ok": False, "error": type(exc).__name__, "reason": str(exc)}


def run_batch(app, settings, source, *, scheduler: str | None = None, workers: int = 2, meta: dict | None = None,
              entity_name: str | None = None, store: bool = True, progress: bool = True, notifier=None) -> dict:
    """Run every file of ``source`` (folder, glob, file or list of paths); store results; return a report."""
    from tqdm import tqdm

    from . import analyse as _an

    files = [Path(f) for f in source] if isinstance(source, (list, tuple)) else expand(str(source))
    t0 = time.perf_counter()
    db = entity = None
    if store:
        from ..web.store import Store

        db = Store(settings.db_path)
        default = f"batch {files[0].parent.name or 'files'}"
        entity = _an.EntityResolver(db, app, unknown="create").resolve(entity_name or default,
                                                                       meta=dict(meta or {}), origin={"via": "batch"})
    done: dict[int, dict] = {}
    rows: list[dict | None] = [None] * len(files)
    next_store = 0
    bar = tqdm(total=len(files), desc=f"{app.name} batch", unit="file", file=sys.stderr, disable=not progress)
    try:
        for i, outcome in _iter_results(app, settings, files, dict(meta or {}), entity,
                                        scheduler=scheduler, workers=workers):
            done[i] = outcome
            if not outcome["ok"]:
                bar.write(f"failed: {outcome['path']}: {outcome['reason']}", file=sys.stderr)
            bar.update(1)
            while next_store in done:  # store in input order
                o = done.pop(next_store)
                row = {"path": o["path"], "ok": o["ok"]}
                if o["ok"]:
                    summary = {**o["summary"], "ingest": {"via": "batch", "path": o["path"]}}
                    row["summary"] = summary
                    if db is not None:
                        row["result_id"] = db.add_result(app.name, entity["id"], summary, o.get("blobs") or None)
                        _an.apply_update(db, entity["id"], o.get("entity_update"))
                        if notifier is not None:
                            from .notify import change_event

                            event = change_event(db, app.name, row["result_id"])
                            if event:
                                notifier.emit(event)
                else:
                    row.update(error=o["error"], reason=o["reason"])
                rows[next_store] = row
                next_store += 1
    finally:
        bar.close()
        if db is not None:
            db.close()
    wall = time.perf_counter() - t0
    failed = [r for r in rows if r and not r["ok"]]
    report = {"app": app.name, "n": len(files), "ok": len(files) - len(failed), "failed": failed,
              "scheduler": scheduler or "none", "workers": workers if scheduler else 1, "wall_s": round(wall, 3),
              "entity": None if entity is None else {"id": entity["id"], "name": entity["name"]}, "results": rows}
    lines = [f"{app.name}: {report['ok']}/{report['n']} files analysed in {wall:.1f} s "
             f"(scheduler {report['scheduler']}, {report['workers']} worker(s))"]
    if entity is not None:
        lines.append(f"stored under {_an.entity_kind(app)} {entity['name']!r} (id {entity['id']})")
    lines += [f"failed: {r['path']}: {r['reason']}" for r in failed]
    report["text"] = "\n".join(lines)
    return report
