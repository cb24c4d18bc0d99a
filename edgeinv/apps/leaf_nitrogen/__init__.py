"""leaf-nitrogen: from a leaf reflectance spectrum to leaf nitrogen and a fertilization advice.

PROSPECT-PRO (Féret et al. 2021) simulations train a small network that runs on the edge device
with ONNX Runtime; see docs/apps/leaf_nitrogen.md. Importing this package loads no torch.
"""

from .app import LeafNitrogenApp

APP = LeafNitrogenApp()

__all__ = ["APP", "LeafNitrogenApp"]
