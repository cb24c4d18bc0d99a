"""veg-cover: UAV imagery -> per-pixel fractional vegetation cover, zone flags and a re-survey flight plan.

The App object the core drives lives in :mod:`.app`. Edge side at import time: numpy, scipy, rasterio,
OpenCV. Training-side modules (PROSAIL scenes, torch) live in :mod:`.sim` and load when first used;
the re-survey flight planning is in :mod:`.mission`.
"""

from .app import APP, VegCoverApp, path_for

__all__ = ["APP", "VegCoverApp", "path_for"]
