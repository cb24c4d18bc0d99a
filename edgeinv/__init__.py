"""edgeinv: inversion models at the edge (bearing wear, leaf nitrogen, vegetation cover)."""

__version__ = "0.1.0"
