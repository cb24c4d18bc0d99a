"""Model (or baseline) outputs for one leaf -> the leaf's nitrogen, with units, uncertainty and caveats.

Nitrogen per area comes from the protein estimate through the nitrogen-to-protein factor
(:func:`physics.nitrogen_area_g_m2`), nitrogen per mass from protein and LMA. What the spectrum's
range cannot support is said, not hidden: a VNIR spectrum (400-1000 nm) has no protein, water or
dry-matter absorption features, so its protein/nitrogen output is the model's estimate *through
chlorophyll* (the Cab-N relation of the training prior) and is flagged as such, and the per-mass
nitrogen (which needs LMA) is withheld.
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

    @property
    def nitrogen_g_m2(self) -> float | None:
        return self.values.get("nitrogen_g_m2")

    def to_dict(self) -> dict:
        d = {"sample": self.sample, "config": self.config, "method": self.method}
        for k in DISPLAY:
            d[k] = self.values.get(k)
            d[f"{k}_std"] = self.stds.get(k)
        d.update(n_to_protein=self.n_to_protein, nitrogen_basis=self.nitrogen_basis, flags=list(self.flags),
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
        lines += [f"  note: {f}" for f in self.flags]
        return "\n".join(lines)


def interpret_leaf(outputs: dict, sample, *, config: str | None = None, method: str = "model",
                   n_to_protein: float | None = None) -> LeafResult:
    """Single-leaf outputs (``app.output_names()`` layout, batch axis removed) -> :class:`LeafResult`.

    Missing outputs (a baseline that could not estimate a trait) stay ``None``.
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
        stds["nitrogen_g_m2"] = None if s is None else float(nitrogen_area_g_m2(protein_g_cm2=s, n_to_protein=factor))
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
                rel = np.hypot(sp / values["protein_g_cm2"], sl / lma)
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
    return LeafResult(sample=sample.sample, config=config, values=values, stds=stds, n_to_protein=factor,
                      nitrogen_basis=basis, flags=flags, method=method)
