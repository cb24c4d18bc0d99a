"""Numbers from text files (edge side, numpy only): the fast path the apps' CSV readers share.

A file's plain numeric body is converted by numpy's C text reader (``np.loadtxt``), which converts each cell as
Python's ``float`` does (correctly rounded, the same doubles) but without a Python object per cell: 1.5-2.5x faster
than splitting and converting cell by cell (issue 13, stop 29: the bench's read stage, parsing one example file, is
most of a file's time for bearing-wear and leaf-nitrogen). Anything else — quoted or empty cells, comments, ragged
rows, text, digit separators (``1_0``, which ``float`` accepts and ``np.loadtxt`` does not) — is left to the app's
own cell-by-cell parse, which reads it or says which line and column is wrong.
"""

from __future__ import annotations

import numpy as np


def numeric_table(lines: list[str], delimiter: str | None, width: int) -> np.ndarray | None:
    """``lines`` (no line breaks; blank ones skipped) as a float64 table of ``width`` columns, cells split at
    ``delimiter`` (None: runs of whitespace) with surrounding whitespace allowed; None unless every line is exactly
    ``width`` numbers (quotes, comments and empty cells are not numbers here)."""
    if not lines:
        return None
    try:
        table = np.loadtxt(lines, delimiter=delimiter, comments=None, quotechar=None, dtype=np.float64, ndmin=2)
    except ValueError:
        return None
    return table if table.shape[1] == width else None
