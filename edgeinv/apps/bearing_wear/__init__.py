"""bearing-wear: accelerometer recording -> bearing defect location, defect size (mm) and a wear alarm.

The App object the core drives lives in :mod:`.app`. Edge side only at import time: torch is imported
lazily by :meth:`BearingWearApp.build_model`.
"""

from .app import APP, BearingResult, BearingWearApp, Recording

__all__ = ["APP", "BearingWearApp", "BearingResult", "Recording"]
