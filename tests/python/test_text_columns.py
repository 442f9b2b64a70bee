"""The numpy text of numbers (analyzer/definitions/text_columns.py) is byte for byte what Python
writes: str() for integers, '%.Nf' for floats (ties, signs, zeros, non-finite values included)."""

import numpy as np

from analyzer.definitions.text_columns import (blank_where, decimal_cell, fixed_cell, join_rows,
                                               text_cell)


def texts(cell):
    return [row[valid].tobytes().decode() for row, valid in zip(cell.matrix, cell.valid)]


def test_integers_are_written_as_str_writes_them():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.integers(-10**12, 10**12, 2000), rng.integers(0, 1000, 2000),
                             [0, 1, 9, 10, 99, 100, -1, -10, 2**62, -(2**62)]])
    assert texts(decimal_cell(values)) == [str(v) for v in values.tolist()]


def test_floats_are_written_as_percent_f_writes_them():
    rng = np.random.default_rng(4)
    values = np.concatenate([
        rng.uniform(-1, 1, 3000), rng.uniform(0, 1e9, 1000),
        np.arange(-64, 65) / 32,  # exact ties at 4 decimals (k/32) and at 0 (k/2)
        np.arange(0, 100) / 2 + 0.5,  # ties to even at 0 decimals
        [0.0, -0.0, -1e-9, 1e-9, 0.00005, 0.03125, 0.03135, 1.0, -1.0, 2.0**45, 1e300,
         np.nan, np.inf, -np.inf]])
    for decimals in (0, 4):
        expected = ["%.*f" % (decimals, v) for v in values.tolist()]
        assert texts(fixed_cell(values, decimals)) == expected, decimals


def test_text_cells_and_blank_rows():
    cell = text_cell(["a", '"b,c"', ""], [1, 0, 2, 1])
    assert texts(cell) == ['"b,c"', "a", "", '"b,c"']
    assert texts(blank_where(decimal_cell([5, 6, 7]), [False, True, False])) == ["5", "", "7"]


def test_rows_are_joined_by_commas_and_ended_by_newlines():
    cells = [decimal_cell([1, 22, -3]), text_cell(["x", "yy"], [0, 1, 0]),
             blank_where(fixed_cell([0.5, 1.25, -2.0], 2), [False, False, True])]
    assert join_rows(cells) == b"1,x,0.50\n22,yy,1.25\n-3,x,\n"
