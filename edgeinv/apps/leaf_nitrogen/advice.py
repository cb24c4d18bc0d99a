"""Fertilization advice for a field from its leaves' nitrogen: sufficiency index -> top-dress kg N/ha.

Two ways to judge the field (the agronomic numbers live in ``data/agronomy.json``, not here):

1. **Reference strip** (preferred): the nitrogen sufficiency index ``NSI = field mean leaf N /
   reference-strip mean leaf N`` against a well-fertilized strip of the same field, crop and stage
   (Varvel, Schepers & Francis 1997); N is needed when ``NSI < 0.95``.
2. **Sufficiency range**: the field's leaf N (% of dry mass) against the crop and stage's tabulated
   range, ``SI = N% / lower bound`` — less reliable (cultivar, season and sampling are not
   controlled) and impossible from VNIR spectra (no LMA).

The rate follows the square-root response of Holland & Schepers (2010):
``rate = remaining N x sqrt((1 - SI) / delta_SI)``, where ``remaining N`` = the crop's planned
economic optimum total N minus what was already applied and credited, capped at the remaining N and
at the crop's maximum single top-dress, rounded, and withheld below a minimum worth a pass.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from edgeinv.common.errors import ConfigError, InvalidInputError


@functools.lru_cache(maxsize=1)
def agronomy_table() -> dict:
    """The crop/stage/method table shipped as package data (``data/agronomy.json``)."""
    return json.loads(resources.files(__package__).joinpath("data/agronomy.json").read_text())


def crops() -> dict[str, dict]:
    return agronomy_table()["crops"]


def check_crop_stage(crop: str, stage: str) -> tuple[dict, dict]:
    table = crops()
    if crop not in table:
        raise ConfigError(f"crop must be one of {', '.join(table)}; got {crop!r}")
    stages = table[crop]["stages"]
    if stage not in stages:
        raise ConfigError(f"stage for {crop} must be one of {', '.join(stages)}; got {stage!r}")
    return table[crop], stages[stage]


# Plausible leaf N of green crop leaves (outside: a clip/spectrum problem, not a verdict): per area ~0.5-3.5 g/m2
# (wheat/maize/rice flag leaves 1-3 g/m2, Evans 1989; Hikosaka 2004), per dry mass ~1-6 %.
PLAUSIBLE_N_G_M2 = (0.3, 4.5)
PLAUSIBLE_N_PERCENT = (0.8, 6.5)
# N content (mass fraction) of common straight N fertilisers, for "how much product to buy"
FERTILISERS = {"urea (46 % N)": 0.46, "calcium ammonium nitrate (27 % N)": 0.27, "UAN solution (28 % N)": 0.28,
               "ammonium sulphate (21 % N)": 0.21}


@dataclass
class FieldAdvice:
    """The field-level verdict. ``rate_kg_ha`` is the recommended top-dress (0 = no application)."""

    crop: str
    stage: str
    status: str  # sufficient | deficient | budget_spent | too_late | reference | unknown
    headline: str
    rate_kg_ha: float
    method: str  # reference_strip | sufficiency_range | none
    n_leaves: int
    mean_n_g_m2: float | None
    sd_n_g_m2: float | None
    mean_n_percent: float | None
    reference_n_g_m2: float | None
    sufficiency_index: float | None
    sufficiency_interval: tuple[float, float] | None
    nitrogen_basis: str
    assumptions: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    #: the index's 95 % interval spans the decision threshold: the headline says so
    borderline: bool = False
    #: leaves whose N is outside the plausible range (sample names): shown, checked, not hidden
    implausible_leaves: list[str] = field(default_factory=list)
    field_area_ha: float | None = None
    total_n_kg: float | None = None  # rate x area: the N to buy for this pass
    product_kg: dict = field(default_factory=dict)  # the same N as common fertilisers (kg of product)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["sufficiency_interval"] = list(self.sufficiency_interval) if self.sufficiency_interval else None
        return d

    def summary(self) -> str:
        lines = [self.headline]
        if self.mean_n_g_m2 is not None:
            lines.append(f"  field mean leaf N {self.mean_n_g_m2:.2f} g/m² over {self.n_leaves} leaves"
                         + (f" (sd {self.sd_n_g_m2:.2f})" if self.sd_n_g_m2 is not None else ""))
        if self.sufficiency_index is not None:
            lo, hi = self.sufficiency_interval or (np.nan, np.nan)
            lines.append(f"  sufficiency index {self.sufficiency_index:.3f} (95 % interval {lo:.3f}-{hi:.3f}, {self.method})")
        lines += [f"  assumption: {a}" for a in self.assumptions]
        lines += [f"  note: {m}" for m in self.messages]
        return "\n".join(lines)


def field_mean(leaves) -> tuple[float, float | None, float, float, float]:
    """Mean leaf N per area of leaves with an estimate: ``(mean, between-leaf sd, se, se_abs, shared)``.

    ``se`` treats the leaves' errors as independent (between-leaf spread and the leaves' sigmas over n): right for the
    index against a reference strip, where what all leaves of one species and instrument share cancels in the ratio.
    ``se_abs`` adds that shared part in full (``shared`` x mean; :data:`interpret.SHARED_REL_SD`: N-to-protein factor,
    species-level model error), which does not average out: right for an absolute field mean."""
    nv = np.array([lf.nitrogen_g_m2 for lf in leaves], float)
    sv = np.array([lf.stds.get("nitrogen_g_m2") or 0.0 for lf in leaves], float)
    n = len(nv)
    mean, sd = float(nv.mean()), float(nv.std(ddof=1)) if n > 1 else None
    se = float(np.sqrt(((sd or 0.0) ** 2 + np.mean(sv**2)) / n))
    shared = float(np.mean([lf.shared_rel_sd for lf in leaves]))
    return mean, sd, se, float(np.hypot(se, shared * mean)), shared


def _round(rate: float, step: float) -> float:
    return float(step * np.round(rate / step))


def advise(leaves, *, crop: str, stage: str, reference_n_g_m2: float | None = None,
           n_applied_kg_ha: float = 0.0, n_credit_kg_ha: float = 0.0, n_opt_kg_ha: float | None = None,
           is_reference: bool = False, field_area_ha: float | None = None) -> FieldAdvice:
    """Fertilization advice for the leaves (``interpret.LeafResult``) measured in one field.

    Parameters
    ----------
    leaves : per-leaf results of one upload (leaves without a nitrogen estimate are skipped).
    crop, stage : keys of ``data/agronomy.json``.
    reference_n_g_m2 : mean leaf N of the field's well-fertilized reference strip (g/m2), if any.
    n_applied_kg_ha, n_credit_kg_ha : N already applied this season / credited (manure, legumes, soil).
    n_opt_kg_ha : the field's planned economic optimum total N (default: the crop's table value).
    is_reference : these leaves are the reference strip itself: they set the field's reference and
        are not judged (status ``reference``), against a tabulated range or otherwise.
    field_area_ha : the field's area: the advice then says the total N (kg) and product to buy.
    """
    adv = _advise(leaves, crop=crop, stage=stage, reference_n_g_m2=reference_n_g_m2, n_applied_kg_ha=n_applied_kg_ha,
                  n_credit_kg_ha=n_credit_kg_ha, n_opt_kg_ha=n_opt_kg_ha, is_reference=is_reference)
    if field_area_ha is not None:
        if not (np.isfinite(field_area_ha) and 0 < field_area_ha <= 10000):
            raise InvalidInputError(f"field_area_ha must be > 0 and <= 10000 ha, got {field_area_ha!r}")
        adv.field_area_ha = float(field_area_ha)
        adv.total_n_kg = round(adv.rate_kg_ha * field_area_ha, 1)
        if adv.rate_kg_ha > 0:
            adv.product_kg = {name: round(adv.total_n_kg / frac) for name, frac in FERTILISERS.items()}
    bad = []
    for lf in leaves:
        n, pct = lf.nitrogen_g_m2, lf.values.get("nitrogen_percent")
        if (n is not None and not PLAUSIBLE_N_G_M2[0] <= n <= PLAUSIBLE_N_G_M2[1]) or (
                pct is not None and not PLAUSIBLE_N_PERCENT[0] <= pct <= PLAUSIBLE_N_PERCENT[1]):
            bad.append(lf.sample)
    if bad:
        adv.implausible_leaves = bad
        adv.messages.append(
            f"{len(bad)} leaf/leaves outside the plausible range of green crop leaves ({PLAUSIBLE_N_G_M2[0]:g}-"
            f"{PLAUSIBLE_N_G_M2[1]:g} g N/m², {PLAUSIBLE_N_PERCENT[0]:g}-{PLAUSIBLE_N_PERCENT[1]:g} % N of dry mass): "
            f"{', '.join(bad[:8])}{' ...' if len(bad) > 8 else ''}; check the clip, the reference panel and the "
            "spectra before acting")
    return adv


def _advise(leaves, *, crop, stage, reference_n_g_m2, n_applied_kg_ha, n_credit_kg_ha, n_opt_kg_ha,
            is_reference) -> FieldAdvice:
    crop_row, stage_row = check_crop_stage(crop, stage)
    method_row = agronomy_table()["method"]
    src = agronomy_table()["sources"]
    for name, v in (("n_applied_kg_ha", n_applied_kg_ha), ("n_credit_kg_ha", n_credit_kg_ha)):
        if not (np.isfinite(v) and v >= 0):
            raise InvalidInputError(f"{name} must be >= 0, got {v!r}")
    if reference_n_g_m2 is not None and not (np.isfinite(reference_n_g_m2) and reference_n_g_m2 > 0):
        raise InvalidInputError(f"reference_n_g_m2 must be > 0, got {reference_n_g_m2!r}")
    n_opt = float(crop_row["n_opt_kg_ha"] if n_opt_kg_ha is None else n_opt_kg_ha)
    remaining = max(0.0, n_opt - n_applied_kg_ha - n_credit_kg_ha)
    cap = float(crop_row["max_topdress_kg_ha"])
    good = [lf for lf in leaves if lf.nitrogen_g_m2 is not None]
    n = len(good)
    basis = sorted({lf.nitrogen_basis for lf in good})
    basis_txt = " / ".join(basis) if basis else "none"
    messages, sources = [], []
    assumptions = [f"planned economic optimum total N {n_opt:g} kg/ha, {n_applied_kg_ha:g} kg/ha already applied, "
                   f"{n_credit_kg_ha:g} kg/ha credited: {remaining:g} kg N/ha remaining"]
    base = dict(crop=crop, stage=stage, n_leaves=n, reference_n_g_m2=reference_n_g_m2, nitrogen_basis=basis_txt)
    if n == 0:
        return FieldAdvice(status="unknown", headline="No advice: no leaf gave a nitrogen estimate", rate_kg_ha=0.0,
                           method="none", mean_n_g_m2=None, sd_n_g_m2=None, mean_n_percent=None,
                           sufficiency_index=None, sufficiency_interval=None, assumptions=assumptions,
                           messages=["upload spectra that cover at least 400-1000 nm"], **base)
    mean, sd, se, se_abs, shared = field_mean(good)
    pct = [lf.values.get("nitrogen_percent") for lf in good]
    mean_pct = float(np.mean(pct)) if all(p is not None for p in pct) else None
    if n < method_row["min_leaves"]:
        messages.append(f"only {n} leaves: measure at least {method_row['min_leaves']} ({method_row['min_leaves_note']})")
    if any("chlorophyll" in b for b in basis):
        messages.append("leaf N estimated through chlorophyll (VNIR spectra): the index is then a chlorophyll-based "
                        "sufficiency index, as with chlorophyll meters (Varvel et al. 1997)")

    threshold = float(method_row["nsi_threshold"])
    shared_note = (f"the field mean's interval includes ±{100 * shared:.0f} % (1σ) shared by all leaves of one "
                   "species (N-to-protein factor, species-level model error): more leaves do not shrink it; it "
                   "cancels in the index against a reference strip of the same crop measured the same way")
    if is_reference:
        ci = 1.96 * se_abs
        messages.append(shared_note)
        return FieldAdvice(status="reference", method="reference_strip", rate_kg_ha=0.0,
                           headline=f"Reference strip measured: mean leaf N {mean:.2f} g/m² (95 % interval "
                                    f"{mean - ci:.2f}-{mean + ci:.2f}) is now this field's reference; "
                                    "the field's next uploads are judged against it",
                           mean_n_g_m2=mean, sd_n_g_m2=sd, mean_n_percent=mean_pct, sufficiency_index=None,
                           sufficiency_interval=None, assumptions=assumptions[1:], messages=messages,
                           sources=[src[method_row["nsi_threshold_source"]]],
                           **{**base, "reference_n_g_m2": mean})
    if reference_n_g_m2:
        method = "reference_strip"
        si = mean / reference_n_g_m2
        half = 1.96 * se / reference_n_g_m2
        assumptions.append(f"nitrogen sufficiency index = field / reference strip ({reference_n_g_m2:.2f} g N/m²); "
                           f"N needed below {threshold:g}")
        sources.append(src[method_row["nsi_threshold_source"]])
    elif stage_row.get("sufficiency_n_percent") and mean_pct is not None:
        method = "sufficiency_range"
        low, high = stage_row["sufficiency_n_percent"]
        si = min(mean_pct / low, 1.5)
        pse = [lf.stds.get("nitrogen_percent") or 0.0 for lf in good]
        half = 1.96 * float(np.sqrt((np.var(pct, ddof=1) if n > 1 else 0.0) / n + np.mean(np.square(pse)) / n
                                    + (shared * mean_pct) ** 2)) / low
        messages.append(shared_note)
        threshold = 1.0
        assumptions.append(f"{stage_row['leaf']} sufficiency range {low:g}-{high:g} % N of dry mass at "
                           f"{stage_row['title']}; N needed below {low:g} %")
        messages.append("no reference strip: judged against a tabulated range, which does not control for cultivar, "
                        "season or sampling; a well-fertilized reference strip is more reliable")
        sources.append(src[stage_row.get("source", "mills1996")])
    else:
        why = ("VNIR spectra give no dry-matter estimate, so leaf N per mass is unavailable"
               if mean_pct is None else f"no sufficiency range is tabulated for {crop_row['title']}")
        return FieldAdvice(status="unknown", headline="No advice: measure a well-fertilized reference strip",
                           rate_kg_ha=0.0, method="none", mean_n_g_m2=mean, sd_n_g_m2=sd, mean_n_percent=mean_pct,
                           sufficiency_index=None, sufficiency_interval=None, assumptions=assumptions,
                           messages=messages + [f"without a reference strip: {why}"], **base)
    interval = (float(si - half), float(si + half))
    common = dict(method=method, mean_n_g_m2=mean, sd_n_g_m2=sd, mean_n_percent=mean_pct, sufficiency_index=float(si),
                  sufficiency_interval=interval, assumptions=assumptions, messages=messages, sources=sources, **base)
    borderline = bool(interval[0] < threshold <= interval[1])
    common["borderline"] = borderline
    span = (f"the index {si:.2f} has a 95 % interval {interval[0]:.2f}-{interval[1]:.2f} that spans the "
            f"{threshold:g} threshold")
    if borderline:
        messages.append("the index's 95 % interval spans the threshold: borderline, measure more leaves to be sure")
    if si >= threshold:
        head = ("Borderline: probably sufficient, but " + span + "; measure more leaves before deciding"
                if borderline else "No application needed: the crop's nitrogen is sufficient")
        return FieldAdvice(status="sufficient", headline=head, rate_kg_ha=0.0, **common)
    dsi = float(method_row["delta_si"])
    raw = remaining * float(np.sqrt(min(1.0, (1.0 - si) / dsi)))
    rate = _round(min(raw, remaining, cap), float(method_row["rate_step_kg_ha"]))
    assumptions.append(f"rate = remaining N x sqrt((1 - SI) / {dsi:g}) (Holland & Schepers 2010), capped at "
                       f"{cap:g} kg N/ha per application for {crop_row['title']}")
    sources.append(src["holland2010"])
    maybe = "Borderline: " if borderline else ""
    if not stage_row.get("topdress", False):
        messages.append(stage_row.get("note", "too late for an in-season application"))
        return FieldAdvice(status="too_late", headline=f"{maybe}Nitrogen deficient, but no top-dress at "
                           f"{stage_row['title']}: record it for next season", rate_kg_ha=0.0, **common)
    min_rate = float(method_row["min_rate_kg_ha"])
    if rate < min_rate and remaining < min_rate:
        # the plan is used up: the deficit may be large, and saying "too small to act on" would be false
        full = _round(min(n_opt * float(np.sqrt(min(1.0, (1.0 - si) / dsi))), cap), float(method_row["rate_step_kg_ha"]))
        spent = n_applied_kg_ha + n_credit_kg_ha
        messages += [
            f"on a full plan the response curve would give {full:g} kg N/ha for this index",
            "options: (1) if the yield potential is still there, raise the field's planned total N (setting "
            "n_opt_kg_ha) and upload again for a rate; (2) check for another cause of pale leaves (drought, "
            "waterlogging, sulphur deficiency, disease) before buying N; (3) check the applied N really reached the "
            "crop (losses after heavy rain, spreader calibration); (4) record it and plan more N next season"]
        head = (f"{maybe}Nitrogen deficient (index {si:.2f}, below {threshold:g}), but the planned N budget is "
                f"spent ({spent:g} of {n_opt:g} kg N/ha applied or credited): no rate within the plan")
        return FieldAdvice(status="budget_spent", headline=head, rate_kg_ha=0.0, **common)
    if rate < min_rate:
        messages.append(f"computed {raw:.0f} kg N/ha is below the {min_rate:g} kg/ha worth a pass")
        head = ("Borderline: slightly below the threshold, " + span + "; the deficit is too small to act on"
                if borderline else "No application needed: the deficit is too small to act on")
        return FieldAdvice(status="sufficient", headline=head, rate_kg_ha=0.0, **common)
    if stage_row.get("note"):
        messages.append(stage_row["note"])
    head = (f"Borderline: top-dress {rate:g} kg N/ha if you act now, but " + span + "; measure more leaves to be sure"
            if borderline else f"Top-dress {rate:g} kg N/ha")
    return FieldAdvice(status="deficient", headline=head, rate_kg_ha=rate, **common)


# ---- the field's record of N applications --------------------------------------------------------------------------

MAX_APPLICATION_KG_HA = 400.0  # no single dressing of an arable crop carries more (the season's cap is 600)
SEASON_DAYS = 365  # applications counted for a measurement: on or before its date and within this many days


def parse_application(form: dict, *, next_id: int) -> dict:
    """One N application from a form or JSON body: ``date`` (ISO date), ``kg_n_ha`` (0 < x <= 400), ``product``.

    InvalidInputError names the field, its rule and the value given.
    """
    import datetime as _dt

    raw_date = str(form.get("date") or "").strip()
    try:
        day = _dt.date.fromisoformat(raw_date[:10])
    except ValueError:
        raise InvalidInputError(f"date must be a date like 2026-04-15, got {raw_date!r}") from None
    raw = form.get("kg_n_ha")
    try:
        kg = float(raw)
    except (TypeError, ValueError):
        raise InvalidInputError(f"kg_n_ha must be a number of kg N/ha, got {raw!r}") from None
    if not (np.isfinite(kg) and 0.0 < kg <= MAX_APPLICATION_KG_HA):
        raise InvalidInputError(f"kg_n_ha must be > 0 and <= {MAX_APPLICATION_KG_HA:g} kg N/ha, got {raw!r}")
    product = str(form.get("product") or "").strip()
    if len(product) > 120:
        raise InvalidInputError(f"product must be at most 120 characters, got {len(product)}")
    return {"id": int(next_id), "date": day.isoformat(), "kg_n_ha": round(kg, 2), "product": product}


def n_applied(settings: dict, *, measured_on: str | None = None) -> tuple[float, list[dict], str]:
    """The N already applied to a field for the advice: ``(kg N/ha, applications counted, how it was found)``.

    With recorded applications (``settings["n_applications"]``) it is the sum of those dated on or before the
    measurement day (``measured_on``, ISO) and at most :data:`SEASON_DAYS` before it; without any, the field's
    single setting ``n_applied_kg_ha`` (0 when unset).
    """
    import datetime as _dt

    apps = list(settings.get("n_applications") or [])
    if not apps:
        return float(settings.get("n_applied_kg_ha") or 0.0), [], "field setting"
    day = _dt.date.fromisoformat(measured_on[:10]) if measured_on else _dt.date.today()
    used = [a for a in apps if 0 <= (day - _dt.date.fromisoformat(a["date"])).days <= SEASON_DAYS]
    total = round(sum(float(a["kg_n_ha"]) for a in used), 2)
    dates = ", ".join(f"{a['date']} {a['kg_n_ha']:g}" for a in sorted(used, key=lambda a: a["date"]))
    how = (f"sum of {len(used)} recorded application(s) up to {day.isoformat()} ({dates} kg N/ha)" if used
           else f"no recorded application in the {SEASON_DAYS} days up to {day.isoformat()}")
    return total, used, how
