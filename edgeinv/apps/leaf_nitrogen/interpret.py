"""Model (or baseline) outputs for one leaf -> the leaf's nitrogen, with units, uncertainty and caveats.

Nitrogen per area comes from the protein estimate through the nitrogen-to-protein factor
(:func:`physics.nitrogen_area_g_m2`), nitrogen per mass from protein and LMA. What the spectrum's
range cannot support is said, not hidden: a VNIR spectrum (400-1000 nm) has no protein, water or
dry-matter absorption features, so its protein/nitrogen output is the model's estimate *through
chlorophyll* (the Cab-N relation of the training prior) and is flagged as such, and the per-mass
nitrogen (which needs LMA) is withheld.

**Protein -> nitrogen, made explicit.** Leaf N = protein N + non-protein N (nitrate, free amino
acids, chlorophyll, nucleic acids). Protein is 16 % N (the generic factor 6.25); a leaf factor ``f``
(default 4.43, Yeoh & Wee 1994) therefore assumes protein N = f / 6.25 = 71 % of leaf N and
non-protein N the other 29 %, proportional to protein (``nonprotein_n_share`` in every result).
The factor varies between species and with N status, so its spread (:data:`N_TO_PROTEIN_REL_SD`)
is propagated into the nitrogen standard deviation together with the protein's.

**Hybrid outputs** (:mod:`hybrid`): when the off-manifold score fires, the result says so, names the
method that led (``model``, ``hybrid`` or ``physics``), and carries the score per leaf. When the
spectrum's range (VNIR) or SWIR noise cannot support protein, the result says "not resolvable"; when the N
per area's 1-sigma exceeds :data:`N_ROUGH_REL` of the value, it says the leaf's N is only roughly resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .physics import DEFAULT_N_TO_PROTEIN, nitrogen_area_g_m2, nitrogen_mass_percent
from .sensors import CONFIGS, choose_config

# target -> (label, unit, digits for display)
DISPLAY = {
    "nitrogen_g_m2": ("leaf N per area", "g N/m²", 2),
    "nitrogen_percent": ("leaf N per mass", "% dry mass", 2),
    "protein_g_cm2": ("proteins", "g/cm²", 5),
    "chlorophyll_ug_cm2": ("chlorophyll a+b", "µg/cm²", 1),
    "ewt_g_cm2": ("water (EWT)", "g/cm²", 4),
    "lma_g_cm2": ("dry matter (LMA)", "g/cm²", 4),
    "carotenoid_ug_cm2": ("carotenoids", "µg/cm²", 1),
    "structure_n": ("structure N", "", 2),
}
SWIR_ONLY = ("protein_g_cm2", "ewt_g_cm2", "lma_g_cm2")
PROTEIN_N_FACTOR = 6.25  # g protein per g protein-N (16 % N in protein)
# Relative spread (1 sigma) of leaf nitrogen-to-protein factors between species and N status; an
# assumption (about +-0.45 around 4.43), propagated into the nitrogen uncertainty.
N_TO_PROTEIN_REL_SD = 0.10
# Relative spread (1 sigma) of the part of the N error that one species (measured with one instrument) shares by all
# its leaves, beyond the factor: measured on simulations only (docs/apps/leaf_nitrogen_trials/shared_bias.py 60 400:
# 60 simulated "species", each with one absorption-coefficient perturbation of the training's size shared by its 400
# leaves, through the edge path: sd of the species-mean error 2.5 %; with 30 leaves per species the same sd reads
# 5.8 %, most of it the sampling noise of 30 leaves, which a field mean's own standard error already carries).
SPECIES_MODEL_REL_SD = 0.025
# The shared part as a whole (issue 14): it does not average out over a field's leaves, so a field mean of N per
# area or per mass carries it in full (advice.py); it cancels in a ratio of two means of one species measured with
# one instrument (the reference-strip index).
SHARED_REL_SD = float(np.hypot(N_TO_PROTEIN_REL_SD, SPECIES_MODEL_REL_SD))
# Above this relative 1-sigma the leaf's N per area is said to be only roughly resolved (issue 14): two leaves
# then differ visibly (2 sigma) only when their N differs by more than half; a general bound, not tuned on real
# leaves (on-manifold simulated leaves: 7-15 %, 15-22 % since stop 24 added PROSPECT-PRO's own 10 % on every leaf;
# physics-led real leaves: 30-45 %, measured in the docs).
N_ROUGH_REL = 0.25


def _f(v):
    if v is None:
        return None
    v = float(np.asarray(v).reshape(-1)[0])
    return v if np.isfinite(v) else None


@dataclass
class LeafResult:
    """One leaf's estimate. Values in the units of :data:`DISPLAY`; ``*_std`` one standard deviation."""

    sample: str
    config: str
    values: dict[str, float | None]
    stds: dict[str, float | None]
    n_to_protein: float
    nitrogen_basis: str
    flags: list[str] = field(default_factory=list)
    method: str = "model"
    ood_score: float | None = None
    physics_weight: float = 0.0
    protein_resolvable: bool = True

    @property
    def nitrogen_g_m2(self) -> float | None:
        return self.values.get("nitrogen_g_m2")

    @property
    def shared_rel_sd(self) -> float:
        """Relative sigma of the N error shared by all leaves of one species and instrument (:data:`SHARED_REL_SD`),
        never more than the leaf's own relative sigma of N per area (it is a part of it)."""
        n, s = self.values.get("nitrogen_g_m2"), self.stds.get("nitrogen_g_m2")
        if not n or s is None:
            return SHARED_REL_SD
        return float(min(SHARED_REL_SD, s / n))

    def to_dict(self) -> dict:
        d = {"sample": self.sample, "config": self.config, "method": self.method}
        for k in DISPLAY:
            d[k] = self.values.get(k)
            d[f"{k}_std"] = self.stds.get(k)
        d.update(n_to_protein=self.n_to_protein, nitrogen_basis=self.nitrogen_basis, flags=list(self.flags),
                 nonprotein_n_share=max(0.0, 1.0 - self.n_to_protein / PROTEIN_N_FACTOR),
                 ood_score=self.ood_score, off_manifold=bool(self.ood_score is not None and self.ood_score > 1.0),
                 physics_weight=self.physics_weight, protein_resolvable=self.protein_resolvable,
                 nitrogen_shared_rel_sd=self.shared_rel_sd if self.nitrogen_g_m2 is not None else None,
                 units={k: u for k, (_, u, _) in DISPLAY.items()})
        return d

    def summary(self) -> str:
        lines = [f"leaf {self.sample} ({CONFIGS[self.config].title}, {self.method})"]
        for k, (label, unit, digits) in DISPLAY.items():
            v, s = self.values.get(k), self.stds.get(k)
            if v is None:
                continue
            txt = f"{v:.{digits}f}" + (f" ± {s:.{digits}f}" if s is not None else "")
            lines.append(f"  {label:<18} {txt} {unit}".rstrip())
        lines.append(f"  nitrogen from {self.nitrogen_basis} (factor {self.n_to_protein:g} g protein / g N)")
        if self.ood_score is not None:
            lines.append(f"  off-manifold score {self.ood_score:.2f} (> 1: unlike 99 % of simulated leaves)")
        lines += [f"  note: {f}" for f in self.flags]
        return "\n".join(lines)


def interpret_leaf(outputs: dict, sample, *, config: str | None = None, method: str = "model",
                   n_to_protein: float | None = None, info: dict | None = None) -> LeafResult:
    """Single-leaf outputs (``app.output_names()`` layout, batch axis removed) -> :class:`LeafResult`.

    Missing outputs (a baseline that could not estimate a trait) stay ``None``. ``info`` is the
    hybrid's report (:func:`hybrid.hybrid_outputs`): off-manifold score, physics weight, SWIR noise.
    """
    config = config or choose_config(sample.wavelength_nm)
    factor = float(n_to_protein or sample.meta.get("n_to_protein") or DEFAULT_N_TO_PROTEIN)
    c = CONFIGS[config]
    values = {k: _f(outputs.get(k)) for k in ("protein_g_cm2", "chlorophyll_ug_cm2", "ewt_g_cm2", "lma_g_cm2",
                                              "carotenoid_ug_cm2")}
    values["structure_n"] = _f(outputs.get("structure_n", outputs.get("n_struct")))
    stds = {k: _f(outputs.get(f"{k}_std")) for k in values}
    flags: list[str] = []
    if values["protein_g_cm2"] is not None:
        values["protein_g_cm2"] = max(values["protein_g_cm2"], 0.0)
        values["nitrogen_g_m2"] = float(nitrogen_area_g_m2(protein_g_cm2=values["protein_g_cm2"], n_to_protein=factor))
        s = stds["protein_g_cm2"]
        stds["nitrogen_g_m2"] = None if s is None else float(np.hypot(
            nitrogen_area_g_m2(protein_g_cm2=s, n_to_protein=factor), N_TO_PROTEIN_REL_SD * values["nitrogen_g_m2"]))
    else:
        values["nitrogen_g_m2"] = stds["nitrogen_g_m2"] = None
        flags.append("no protein estimate: leaf nitrogen unavailable")
    if c.supports_protein:
        basis = "proteins (SWIR absorption features)"
        lma = values["lma_g_cm2"]
        if values["protein_g_cm2"] is not None and lma and lma > 0:
            pct = float(nitrogen_mass_percent(protein_g_cm2=values["protein_g_cm2"], lma_g_cm2=lma, n_to_protein=factor))
            values["nitrogen_percent"] = pct
            sp, sl = stds["protein_g_cm2"], stds["lma_g_cm2"]
            if sp is not None and sl is not None and values["protein_g_cm2"] > 0:
                rel = np.sqrt((sp / values["protein_g_cm2"]) ** 2 + (sl / lma) ** 2 + N_TO_PROTEIN_REL_SD**2)
                stds["nitrogen_percent"] = float(pct * rel)
            else:
                stds["nitrogen_percent"] = None
        else:
            values["nitrogen_percent"] = stds["nitrogen_percent"] = None
    else:
        basis = "chlorophyll only (VNIR spectrum: no protein features)"
        flags.append(f"{c.title}: {c.limits}")
        for k in SWIR_ONLY:
            if k != "protein_g_cm2":
                values[k] = stds[k] = None
        values["nitrogen_percent"] = stds["nitrogen_percent"] = None
    if config == "trimmed":
        flags.append(f"{c.title}: {c.limits}")
    info = info or {}
    resolvable = bool(c.supports_protein and info.get("protein_resolvable", True))
    if not c.supports_protein:
        flags.append("protein not resolvable from this range (no SWIR); nitrogen via chlorophyll only")
    elif not resolvable:
        flags.append(f"protein not resolvable: SWIR noise {info.get('swir_noise', float('nan')):.4f} (reflectance, "
                     f"1 sigma) drowns the protein features; leaf nitrogen withheld")
        for k in ("nitrogen_g_m2", "nitrogen_percent"):
            values[k] = stds[k] = None
    n, ns = values.get("nitrogen_g_m2"), stds.get("nitrogen_g_m2")
    if c.supports_protein and n and ns is not None and ns > N_ROUGH_REL * n:
        flags.append(f"leaf N per area only roughly resolved: ±{ns:.2f} g/m² (1σ, {100 * ns / n:.0f} % of the value); "
                     f"differences between single leaves below about ±{2 * ns:.1f} g/m² are not resolved — use the "
                     f"field mean, or calibrate on your own leaves")
    score = info.get("ood_score")
    weight = float(info.get("physics_weight", 0.0))
    if score is not None and score > 1.0:
        if info.get("unlike_any_leaf"):
            method = "physics"
            flags.append(f"spectrum off the simulator's manifold (score {score:.2f}) and unlike any leaf it makes ("
                         f"{'; '.join(info['unlike_any_leaf'])}): the iterative PROSPECT-PRO inversion alone, "
                         f"uncertainty widened — check the measurement")
        elif weight > 0:
            method = "physics" if weight >= 1.0 else "hybrid"
            flags.append(f"spectrum off the simulator's manifold (score {score:.2f}; > 1 = unlike 99 % of "
                         f"simulated leaves): network and iterative PROSPECT-PRO inversion weighed by their "
                         f"uncertainties (physics weight {weight:.2f}), uncertainty widened")
        elif info.get("network_only") and sample.meta.get("network_only_reason") == "calibrated":
            flags.append(f"spectrum off the simulator's manifold (score {score:.2f}); the model was calibrated on "
                         f"real leaves, so it leads: right for leaves like those it was calibrated on")
        elif info.get("network_only"):
            flags.append(f"spectrum off the simulator's manifold (score {score:.2f}); network only, as asked: "
                         f"right if the model was calibrated on leaves like this one, else treat with care")
        else:
            flags.append(f"spectrum off the simulator's manifold (score {score:.2f}): treat the estimate with care, "
                         f"uncertainty widened")
    return LeafResult(sample=sample.sample, config=config, values=values, stds=stds, n_to_protein=factor,
                      nitrogen_basis=basis, flags=flags, method=method,
                      ood_score=None if score is None else float(score), physics_weight=weight,
                      protein_resolvable=resolvable)
