"""The web server's limits: analysis pool, queue, time limit, allowed hosts and retention.

Read from ``EDGEINV_*`` environment variables (a setting of the same name on
:class:`~edgeinv.common.config.Settings`, if one is ever added there, wins):

=====================================  =========  ================================================
variable                               default    meaning
=====================================  =========  ================================================
``EDGEINV_ANALYSIS_WORKERS``           2          analyses running at once (the worker pool)
``EDGEINV_ANALYSIS_QUEUE``             8          analyses waiting for a worker; more get 503
``EDGEINV_ANALYSIS_TIMEOUT_S``         120        time limit per analysis request (queue included)
``EDGEINV_PAGE_THREADS``               4          server threads kept for pages and ``/healthz``
``EDGEINV_ALLOWED_HOSTS``              (none)     extra ``Host`` names, comma-separated
                                                  (``device.lan``, ``.farm.lan`` for a domain, ``*``)
``EDGEINV_MAX_BLOB_MB``                1024       stored blobs above this: oldest results lose theirs
``EDGEINV_RETENTION_DAYS``             0          delete results older than this (0: keep)
``EDGEINV_MAX_RESULT_MB``              128        files of one result above this: refused (413)
``EDGEINV_MIN_FREE_MB``                256        refuse to store files that leave less disk (507)
=====================================  =========  ================================================
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class WebLimits:
    analysis_workers: int = 2
    analysis_queue: int = 8
    analysis_timeout_s: float = 120.0
    page_threads: int = 4
    allowed_hosts: tuple[str, ...] = ()
    max_blob_mb: float = 1024.0
    retention_days: float = 0.0
    max_result_mb: float = 128.0
    min_free_mb: float = 256.0

    @property
    def server_threads(self) -> int:
        """waitress threads: every admitted analysis may hold one while it waits, plus the page threads."""
        return self.analysis_workers + self.analysis_queue + self.page_threads

    @property
    def max_blob_bytes(self) -> int:
        return int(self.max_blob_mb * 2**20)

    @classmethod
    def from_settings(cls, settings, env=None) -> "WebLimits":
        env = os.environ if env is None else env
        values = {}
        for f, conv, low in (("analysis_workers", int, 1), ("analysis_queue", int, 0), ("analysis_timeout_s", float, 0.1),
                             ("page_threads", int, 1), ("max_blob_mb", float, 0.0), ("retention_days", float, 0.0),
                             ("max_result_mb", float, 0.0), ("min_free_mb", float, 0.0)):
            raw = getattr(settings, f, None)
            var = f"EDGEINV_{f.upper()}"
            if raw is None:
                raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                v = conv(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"{var} must be a number, got {raw!r}") from None
            if not (math.isfinite(v) and v >= low):
                raise ConfigError(f"{var} must be >= {low:g}, got {raw!r}")
            values[f] = v
        hosts = getattr(settings, "allowed_hosts", None)
        if hosts is None:
            hosts = env.get("EDGEINV_ALLOWED_HOSTS", "")
        if isinstance(hosts, str):
            hosts = [h for h in hosts.replace(" ", ",").split(",")]
        values["allowed_hosts"] = tuple(str(h).strip().lower() for h in hosts if str(h).strip())
        return cls(**values)
