"""Words for the codes results carry, so pages never show ``inner_race``, ``iso10816-3:group2-rigid``
or ``teacher_fp32``: the Jinja filter ``human`` (registered by :func:`init_labels`) and the meaning of
the alarm levels (``alarm_meaning``).

The JSON API keeps the codes (clients compare them); only what a person reads is translated. A code
not listed here is shown with its underscores as spaces, never dropped.
"""

from __future__ import annotations

import re

LABELS: dict[str, str] = {
    # bearing-wear: fault classes and alarm levels
    "none": "none (no bearing defect)", "normal": "no bearing defect", "outer_race": "outer race defect",
    "inner_race": "inner race defect",
    "ball": "rolling-element (ball) defect", "cage": "cage defect",
    "ok": "OK", "watch": "Watch", "alert": "Alert", "danger": "Danger",
    "not_resolvable": "not resolvable from this recording", "resolved": "resolved",
    # model variants (manifest names)
    "teacher_fp32": "full model", "teacher_fp16": "full model (16-bit)", "teacher_int8": "full model (8-bit)",
    "teacher_dynint8": "full model (8-bit weights)", "pruned_fp32": "pruned model", "pruned_int8": "pruned model (8-bit)",
    "student_fp32": "small model", "student_int8": "small model (8-bit)",
    # what the models estimate (App.targets) and the sensor configurations they serve
    "fault": "fault location", "defect_size_mm": "defect (spall) size", "protein_g_cm2": "leaf protein, hence nitrogen",
    "chlorophyll_ug_cm2": "chlorophyll", "ewt_g_cm2": "leaf water", "lma_g_cm2": "leaf dry matter per area",
    "structure_n": "leaf structure", "carotenoid_ug_cm2": "carotenoids", "cover_fraction": "vegetation cover",
    "default": "accelerometer", "full": "400-2500 nm spectrometer", "trimmed": "500-2400 nm spectrometer",
    "vnir": "400-1000 nm spectrometer", "multispectral5": "5-band multispectral camera",
    "red_nir": "red + near-infrared camera", "rgb": "RGB camera", "red_nir_fine": "red + NIR camera, close-up",
    "rgb_fine": "RGB camera, close-up",
    # leaf-nitrogen: advice status and method
    "sufficient": "sufficient", "deficient": "nitrogen deficient", "budget_spent": "deficient, N budget spent",
    "too_late": "deficient, too late to top-dress", "reference": "reference strip", "unknown": "no advice",
    "reference_strip": "against the reference strip", "sufficiency_range": "against the tabulated range",
    "chlorophyll": "from chlorophyll", "protein": "from proteins",
    # veg-cover: zone flags and paths
    "low_cover": "low cover", "high_variance": "patchy", "low_confidence": "model unsure",
    "segment": "plant/soil segmentation", "unmix": "spectral unmixing",
    # where a parameter came from
    "entity default": "saved setting", "form": "entered on upload", "file": "from the file",
    "device": "this device's model choice", "flag": "command-line flag",
}

ALARM_MEANINGS: dict[str, str] = {
    "ok": "no action: overall vibration in ISO zone A or B and no bearing defect found",
    "watch": "a bearing defect has started (a spall under 1 mm): measure more often and plan an inspection",
    "alert": "plan a repair: vibration in ISO zone C, a spall of 1–2 mm, or a cage defect",
    "danger": "repair now or stop the machine: vibration in ISO zone D or a spall over 2 mm",
}

_ISO = re.compile(r"^iso(\d+)-(\d+):(?:class-(?P<cls>[IV]+)|group(?P<grp>\d)-(?P<found>rigid|flexible))$")


def human(code) -> str:
    """Words for a result code; unknown codes with ``_`` as spaces; None as an en dash."""
    if code is None:
        return "–"
    if isinstance(code, bool):
        return "yes" if code else "no"
    text = str(code)
    if text in LABELS:
        return LABELS[text]
    m = _ISO.match(text)
    if m:
        std = f"ISO {m.group(1)}-{m.group(2)}"
        if m.group("cls"):
            return f"{std}, class {m.group('cls')}"
        size = {"1": "large machines, 300 kW-50 MW", "2": "medium machines, 15-300 kW"}.get(m.group("grp"), "")
        return f"{std}, group {m.group('grp')} ({size}), {m.group('found')} foundation"
    return text.replace("_", " ")


def alarm_meaning(level) -> str:
    return ALARM_MEANINGS.get(str(level), "")


def init_labels(flask_app, *, data_store=None) -> None:
    """Register ``human`` and ``alarm_meaning`` as Jinja filters, the meanings and where results are
    stored (``data_store``: the SQLite file, shown in every page's footer) as globals."""
    flask_app.jinja_env.filters.update(human=human, alarm_meaning=alarm_meaning)
    flask_app.jinja_env.globals.update(alarm_meanings=ALARM_MEANINGS,
                                       data_store=str(data_store) if data_store else "")
