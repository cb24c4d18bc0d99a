"""leaf-nitrogen's predict options: the nitrogen-to-protein factor, a forced sensor config, network only.

See :mod:`edgeinv.common.options`. The field settings (crop, stage, reference strip) are the entity's;
``n_to_protein`` may be a field setting too (its source is then ``entity default``).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeinv.common.options import PredictOptions, option

from .physics import DEFAULT_N_TO_PROTEIN
from .sensors import CONFIG_ORDER


@dataclass(frozen=True)
class LeafOptions(PredictOptions):
    n_to_protein: float | None = option(low=2.0, high=8.0, unit="g protein / g N", label="Nitrogen-to-protein factor",
                                        help=f"g protein per g N (default {DEFAULT_N_TO_PROTEIN})")
    sensor: str | None = option(kind="choice", choices=CONFIG_ORDER, reader=True, setting=False, label="Sensor config",
                                help="force a sensor config (default: from the spectrum's range)")
    network_only: bool | None = option(kind="bool", setting=False, label="Network only",
                                       help="never let the iterative inversion lead on off-manifold leaves")

    def provenance(self, sample=None) -> dict:
        out = super().provenance(sample)
        if out["n_to_protein"]["value"] is None:
            out["n_to_protein"]["value"] = DEFAULT_N_TO_PROTEIN
        return out
