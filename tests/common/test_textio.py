"""The apps' shared numeric fast path for text files: Python's own floats, or None for anything else."""

from __future__ import annotations

import numpy as np

from edgeinv.common.textio import numeric_table


def test_numbers_are_pythons_floats_and_anything_else_is_left_to_the_caller():
    cells = ["0.1", "-2.5e-3", "1e308", "4.9e-324", "0.30000000000000004", "123456789.123456789", "nan", "-Infinity",
             " 7 ", "+.5", "5."]
    table = numeric_table([f"{c},{c}" for c in cells], ",", 2)
    want = np.array([[float(c)] * 2 for c in cells])
    assert table is not None and table.shape == (len(cells), 2)
    assert table.tobytes() == want.tobytes()  # the same doubles (NaN included: the same bits)
    assert numeric_table(["1 2", "", "3\t4"], None, 2).tolist() == [[1.0, 2.0], [3.0, 4.0]]  # whitespace; blank skipped
    assert numeric_table(["5", "6"], None, 1).shape == (2, 1)
    for lines, delim, width in ((['"1",2'], ",", 2), (["1,"], ",", 2), (["1,2", "3"], ",", 2), (["1_0,2"], ",", 2),
                                (["1,2"], ",", 3), (["# 1,2"], ",", 2), (["1,abc"], ",", 2), ([], ",", 2),
                                (["0x10,1"], ",", 2), (["1;2"], ",", 2)):
        assert numeric_table(lines, delim, width) is None, lines
