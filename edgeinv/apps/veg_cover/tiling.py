"""Windowed, tiled processing of a raster of any size: read a tile plus a margin, infer, crop, write.

A fully-convolutional model sees ``margin_px`` pixels beyond each tile, at least its receptive
field radius, and only the tile's core is kept ("crop margins"). At the raster edge there is no
margin, as in whole-image processing, so tiled output equals whole-image output (up to floating
point). Memory is bounded by the tile size: one tile of input, features and output at a time,
plus the zone statistics (one number per sub-cell of a zone).
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from edgeinv.common.errors import ConfigError
from edgeinv.common.runtime.memory import release_memory, steady_heap

TILE_PX = 256
# >= the receptive-field radius of every shipped network (4 px; checked by tests/apps/veg_cover/test_tiling.py),
# twice it for slack. Was 16: a 288 px model input for a 256 px core (1.27x the pixels); 8 gives 272 px
# (1.13x), and the model is ~a third of the large-orthomosaic path (issue 13).
MARGIN_PX = 8
# Tiles and margins are rounded up to a multiple of this, so every read window starts at an even pixel: the
# coarse nets work on 2 x 2 pixel groups (space-to-depth, ``model.CoverNet``), whose phase follows the
# window's origin; tiled output then equals whole-image output.
ALIGN_PX = 2
# Background I/O threads of :func:`process` (``predict --io-threads``): 0 = read, infer and write on the calling
# thread; 1 = one background thread decodes the next windows and compresses/writes the finished ones while the
# calling thread runs the features, the model and the zone sums; 2 = one thread for each. GDAL and numpy
# release the GIL while they decode, cast and compress, so the model's thread keeps its core. Default 1 where the
# process may use two or more cores (it overlaps I/O with compute for about the same CPU time, issue 13), 0 on one.
IO_THREADS = 1
# ... by default only on rasters above this size (predict's streamed orthomosaics): the web's uploads (at most
# 6 MP) stay on one thread, so the serving process gains no second thread's malloc arena (150 MB budget).
IO_MIN_PIXELS = 8_000_000
READ_AHEAD = 2     # tiles decoded ahead of the model (~2 MB each at 272 px x 5 bands)
# Images at least this many tiles on each side run their inner tiles on a model session planned for their shape
# (``OnnxModel.prepare`` via ``VegCoverApp._plan_tiles``; from 4 x 4 tiles on, most tiles are inner ones)
PLAN_MIN_TILES = 4
CACHE_ROWS = 2.5   # block rows of a band that GDAL's cache must hold (:func:`band_for_cache`): two, and headroom
IO_QUEUE = 6       # I/O jobs queued at most (read-ahead + finished windows waiting to be written)


@dataclass(frozen=True)
class Tile:
    """One tile: the core window written out, and the (larger) window read with its margins."""

    row: int
    col: int
    height: int
    width: int
    read_row: int
    read_col: int
    read_height: int
    read_width: int

    @property
    def crop(self) -> tuple[slice, slice]:
        """Where the core sits inside the read window."""
        r, c = self.row - self.read_row, self.col - self.read_col
        return slice(r, r + self.height), slice(c, c + self.width)


def _aligned(px: int) -> int:
    return -(-int(px) // ALIGN_PX) * ALIGN_PX


def read_px(tile_px: int = TILE_PX, margin_px: int = MARGIN_PX) -> int:
    """The side of an inner tile's read window (tile and both margins, aligned as :func:`tiles` aligns them):
    the input shape the model sees for all but the raster's edge tiles."""
    return _aligned(tile_px) + 2 * _aligned(margin_px)


def tiles(*, height: int, width: int, tile_px: int = TILE_PX, margin_px: int = MARGIN_PX,
          group_px: int | None = None, band_groups: int | None = None) -> Iterator[Tile]:
    """Tiles covering the raster, each with its margin clipped to the raster.

    ``tile_px`` and ``margin_px`` are rounded up to a multiple of :data:`ALIGN_PX` (window origins even).
    Row-major; with ``group_px`` (the source's block size, a multiple of ``tile_px``) and ``band_groups``
    the raster goes in vertical bands of that many block columns, each band row-major (tile rows top to
    bottom, each left to right across the band): a tile's margins reach into the neighbouring blocks, and a
    band is narrow enough for the two block rows its current tile row touches to stay in GDAL's (capped)
    block cache (:func:`band_for_cache`), where row-major order over a wide raster evicted each block row
    before the next one needed its edge and so decompressed most blocks three times (issue 13: reading was
    30 % of the 400 MP bench). Row-major within the band, not block by block: block by block, a block row's
    last tiles need the next block row while its first tiles' blocks in the row above are still wanted, three
    block rows in the cache; tile rows need two (issue 13, stop 27: at the same band width the same decodes,
    and the cache-overflow cliff, where every block is decoded twice or more, moves from 8 to 12 block
    columns of a 5-band 512 px uint16 raster under the 64 MB cap).
    """
    if tile_px < 1 or margin_px < 0:
        raise ConfigError(f"tile size must be >= 1 and margin >= 0, got {tile_px}, {margin_px}")
    tile_px, margin_px = _aligned(tile_px), _aligned(margin_px)
    g = group_px if group_px and group_px > tile_px and group_px % tile_px == 0 else tile_px
    band = g * band_groups if band_groups and band_groups > 0 and g > tile_px else width
    # Bands end in the middle of a block column (at a tile edge), not at its edge: a band's margins then reach
    # no block outside its own columns, and only the block column two bands share is decoded twice. At a block
    # edge the margins of each band reached one column on either side (~8 px of it), each decoded again later:
    # two columns in every block row per band edge (issue 13, fifth round).
    half = (g // tile_px // 2) * tile_px if band < width else 0
    edges = [0] + [e for e in range(band - half, width, band) if e > 0] + [width]
    for b0, b1 in zip(edges[:-1], edges[1:]):
        for r in range(0, height, tile_px):
            for c in range(b0, b1, tile_px):  # band edges are tile edges (multiples of tile_px)
                h, w = min(tile_px, height - r), min(tile_px, width - c)
                r0, c0 = max(0, r - margin_px), max(0, c - margin_px)
                r1, c1 = min(height, r + h + margin_px), min(width, c + w + margin_px)
                yield Tile(r, c, h, w, r0, c0, r1 - r0, c1 - c0)


def band_for_cache(block_bytes: int | None, cache_bytes: int | None = None) -> int | None:
    """Block columns per band so that the block rows a tile row touches fit GDAL's cache, with headroom.

    A band of n block widths that starts and ends mid-block (:func:`tiles`) touches n + 1 block columns, and a
    tile row at most two block rows of them; the budget is :data:`CACHE_ROWS` block rows (two, and half a row
    of headroom: on the 400 MP bench, 64 MiB cache and 2.5 MiB blocks, 11 columns decoded each block once but for
    the shared band edges and 12 decoded every block twice or more).

    ``cache_bytes``: default the ``GDAL_CACHEMAX`` in force (bytes, or MB when under 100,000, as GDAL
    reads it), else 64 MB. None when the blocks are unknown.
    """
    if not block_bytes:
        return None
    if cache_bytes is None:
        try:
            from rasterio.env import get_gdal_config

            value = get_gdal_config("GDAL_CACHEMAX")
            cache_bytes = int(value) if value is not None else 64 * 2**20
            if cache_bytes < 100_000:
                cache_bytes *= 2**20
        except (ImportError, TypeError, ValueError):
            cache_bytes = 64 * 2**20
    return max(1, int(cache_bytes // (CACHE_ROWS * block_bytes)) - 1)


class BackgroundIO:
    """One daemon thread running I/O jobs in the order given; :meth:`submit` returns a ``Future``.

    The job queue is bounded (``depth``): a caller that produces faster than the thread writes waits,
    so memory stays bounded by the tile. :meth:`close` runs what is queued (or, with ``cancel``, drops
    it) and joins the thread. Each GDAL dataset is used by one thread at a time: the source by the
    reading thread, the cover GeoTIFF by the writing thread, and by the caller only before or after.
    """

    _STOP = object()

    def __init__(self, depth: int = IO_QUEUE, name: str = "edgeinv-io"):
        self._jobs: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._cancel = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is self._STOP:
                return
            fut, fn, args = job
            if self._cancel:
                fut.cancel()
                continue
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
                fut.set_exception(exc)

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        self._jobs.put((fut, fn, args))
        return fut

    def close(self, *, cancel: bool = False) -> None:
        self._cancel = self._cancel or cancel
        self._jobs.put(self._STOP)
        self._thread.join()


def io_pools(io_threads: int | None) -> tuple[BackgroundIO | None, BackgroundIO | None]:
    """(reader, writer) threads for ``io_threads`` 0 / 1 / 2 (see :data:`IO_THREADS`); 1 shares one thread."""
    n = IO_THREADS if io_threads is None else int(io_threads)
    if n not in (0, 1, 2):
        raise ConfigError(f"io_threads must be 0, 1 or 2, got {n}")
    if n == 0:
        return None, None
    reader = BackgroundIO(name="edgeinv-read")
    return reader, (reader if n == 1 else BackgroundIO(name="edgeinv-write"))


def run_tiles(source, infer: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]],
              tiles_: list[Tile], *, reader: BackgroundIO | None = None) -> Iterator[dict]:
    """Read each tile with its margin, ``infer(bands, valid) -> (cover, std)``, crop: one window per tile.

    A window is ``{"row", "col", "cover", "std", "valid"}`` (the tile's core; ``std`` may be None),
    the keyword arguments sinks' ``add`` takes. Runs in this process, or on a Dask worker for a
    group of tiles (:meth:`~.app.VegCoverApp.predict_windows`). With ``reader`` the next
    :data:`READ_AHEAD` tiles are read (decoded, scaled) on that thread while this one infers.
    """
    def read(t):
        return source.read_window(t.read_row, t.read_col, t.read_height, t.read_width)

    ahead: deque = deque()
    nxt = 0
    for t in tiles_:
        if reader is None:
            bands, valid = read(t)
        else:
            while nxt < len(tiles_) and len(ahead) <= READ_AHEAD:
                ahead.append(reader.submit(read, tiles_[nxt]))
                nxt += 1
            bands, valid = ahead.popleft().result()
        cover, std = infer(bands, valid)
        sl = t.crop
        yield {"row": t.row, "col": t.col, "cover": cover[sl], "std": None if std is None else std[sl],
               "valid": valid[sl]}


def _cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _io_sinks(sinks: list) -> Iterator:
    """The sinks that write on a background thread (:class:`GeoTiffSink`), inside wrappers (``.sinks``) too."""
    for sink in sinks:
        if isinstance(sink, GeoTiffSink):
            yield sink
        yield from _io_sinks(getattr(sink, "sinks", None) or [])


def process(source, infer: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]], *,
            sinks: list, tile_px: int = TILE_PX, margin_px: int = MARGIN_PX,
            progress: Callable[[int, int], None] | None = None,
            windows: Callable[[list[Tile]], Iterator[dict]] | None = None, io_threads: int | None = None) -> None:
    """Run ``infer(bands, valid) -> (cover, std)`` over ``source`` tile by tile.

    ``sinks`` receive ``add(row=, col=, cover=, std=, valid=)`` for each cropped core window (a
    :class:`~.interpret.ZoneGrid`, a :class:`~.outputs.CoverGeoTiff` adapter, an in-memory map), in
    tile order (:func:`tiles`: row-major in bands of source blocks; the sinks take any order). ``windows(tiles)`` computes the windows elsewhere and yields them in that order
    (:func:`edgeinv.common.dask_windows.split_windows`: Dask workers); default: :func:`run_tiles` here.
    ``io_threads`` (default :data:`IO_THREADS` above :data:`IO_MIN_PIXELS` with two or more cores, else 0): reading ahead and writing
    on background threads (:func:`io_pools`); the windows, their order and every sink's input are the same
    with any value. Above :data:`IO_MIN_PIXELS` the process keeps freed tile buffers in its heap
    (:func:`~edgeinv.common.runtime.memory.steady_heap`) and gives them back when done.
    When this returns, every write has been done (or the first error raised), and the threads are gone.
    """
    all_tiles = list(tiles(height=source.height, width=source.width, tile_px=tile_px, margin_px=margin_px,
                           group_px=getattr(source, "block_px", None),
                           band_groups=band_for_cache(getattr(source, "block_bytes", None))))
    large = source.height * source.width > IO_MIN_PIXELS
    if large:  # tile-sized buffers reused from the heap, not fresh pages each tile (given back at the end)
        steady_heap()
    if io_threads is None:  # the default: a thread only where there is a second core for it, on large rasters
        io_threads = IO_THREADS if (large and _cores() > 1) else 0
    reader, writer = io_pools(io_threads if len(all_tiles) > 1 else 0)
    io_sinks = list(_io_sinks(sinks)) if writer is not None else []
    failed = True
    try:
        for sink in io_sinks:
            sink.use_io(writer)
        produced = (run_tiles(source, infer, all_tiles, reader=reader) if windows is None
                    else windows(all_tiles))
        for i, w in enumerate(produced):
            for sink in sinks:
                sink.add(**w)
            if progress is not None:
                progress(i + 1, len(all_tiles))
        for sink in io_sinks:
            sink.drain()
        failed = False
    finally:
        for pool in {id(p): p for p in (reader, writer) if p is not None}.values():
            pool.close(cancel=failed)
        for sink in io_sinks:
            sink.use_io(None)
        if large:
            release_memory()


class MemorySink:
    """Collects the cover map and its std in memory (images small enough to hold)."""

    def __init__(self, *, height: int, width: int):
        self.cover = np.full((height, width), np.nan, np.float32)
        self.std = np.full((height, width), np.nan, np.float32)
        self.has_std = False

    def add(self, *, row, col, cover, std, valid):
        h, w = cover.shape
        self.cover[row:row + h, col:col + w] = np.where(valid, cover, np.nan)
        if std is not None:
            self.has_std = True
            self.std[row:row + h, col:col + w] = np.where(valid, std, np.nan)


class GeoTiffSink:
    """Adapter: streams the cropped windows into a :class:`~.outputs.CoverGeoTiff`.

    With a background thread (``use_io``, set by :func:`process`) the encoding and writing of each window
    runs there, in window order; a failed write is raised at the next ``add`` or at ``drain``.
    """

    def __init__(self, writer):
        self.writer = writer
        self._io: BackgroundIO | None = None
        self._pending: deque = deque()

    def use_io(self, io: BackgroundIO | None) -> None:
        self._io = io

    def add(self, *, row, col, cover, std, valid):
        if self._io is None:
            self.writer.write(row=row, col=col, cover=cover, std=std, valid=valid)
            return
        while self._pending and self._pending[0].done():
            self._pending.popleft().result()  # raises a failed write here
        self._pending.append(self._io.submit(self._write, row, col, cover, std, valid))

    def _write(self, row, col, cover, std, valid):
        self.writer.write(row=row, col=col, cover=cover, std=std, valid=valid)

    def drain(self) -> None:
        """Wait for the queued writes (raises the first that failed)."""
        while self._pending:
            self._pending.popleft().result()
