"""Text of many numbers at once, with numpy: the fast path for the million-row frag CSV (formatting
field by field in Python cost about 10 us a row).

A Cell is one field of every row: row i's text is the bytes of matrix[i] where valid[i] is set,
in order (so a number can sit right-aligned in its matrix, and a blank row has no valid byte).
join_rows lays rows of cells out as CSV lines with one boolean selection over a matrix of all
the cells side by side. The text is exactly what Python writes for the same value:

  - decimal_cell: str(int), a minus sign included;
  - fixed_cell: '%.Nf' % float, correctly rounded (ties to even, on the double's exact value):
    a value whose scaled form lies within TIE_MARGIN of a half (where the float product could
    round the wrong way), or that is not finite or beyond FAST_LIMIT, is formatted by Python
    itself, so no row depends on the fast path being right at the edge;
  - text_cell: each row one of a few given texts (already quoted as the CSV needs).

Tests compare every function with Python's own formatting (tests/python/test_text_columns.py).
"""

from dataclasses import dataclass

import numpy as np

ASCII_ZERO, ASCII_MINUS = ord("0"), ord("-")
# Below this the scaled value (|v| * 10^decimals) and its rounding are exact enough for the fast
# path: doubles hold every integer below 2^53, and the product is off by under 2^-12 here.
FAST_LIMIT = float(1 << 40)
TIE_MARGIN = 1e-6


@dataclass
class Cell:
    matrix: np.ndarray  # uint8 (rows, width)
    valid: np.ndarray  # bool (rows, width): the bytes that are the row's text


def _digit_count(magnitude):
    """Decimal digits of each non-negative int64 (1 for 0)."""
    count = np.ones(len(magnitude), dtype=np.int64)
    top = int(magnitude.max()) if len(magnitude) else 0
    power = 10
    while power <= top:
        count += magnitude >= power
        power *= 10
    return count


def _right_aligned_digits(magnitude, width):
    """(rows, width) ASCII digits of each non-negative int64, zero-padded on the left."""
    matrix = np.empty((len(magnitude), width), dtype=np.uint8)
    rest = magnitude.copy()
    for j in range(width - 1, -1, -1):
        matrix[:, j] = ASCII_ZERO + rest % 10
        rest //= 10
    return matrix


def decimal_cell(values):
    """str(v) for each int64 v."""
    values = np.asarray(values, dtype=np.int64)
    negative = values < 0
    magnitude = np.abs(values)
    count = _digit_count(magnitude) + negative
    width = int(count.max()) if len(count) else 1
    matrix = _right_aligned_digits(magnitude, width)
    valid = np.arange(width) >= (width - count)[:, None]
    if negative.any():
        rows = np.flatnonzero(negative)
        matrix[rows, width - count[rows]] = ASCII_MINUS
    return Cell(matrix, valid)


def fixed_cell(values, decimals):
    """'%.{decimals}f' % v for each float64 v."""
    values = np.asarray(values, dtype=np.float64)
    scale = 10 ** decimals
    scaled = np.abs(values) * scale
    with np.errstate(invalid="ignore"):
        fast = (np.isfinite(scaled) & (scaled < FAST_LIMIT) &
                (np.abs(scaled - np.floor(scaled) - 0.5) > TIE_MARGIN))
    rounded = np.floor(np.where(fast, scaled, 0) + 0.5).astype(np.int64)
    whole = decimal_cell(np.where(np.signbit(values), -1, 1) * (rounded // scale))
    if np.signbit(values).any():  # a negative value whose whole part is 0 keeps its sign
        negative_zero = np.flatnonzero(np.signbit(values) & (rounded // scale == 0))
        whole = _with_minus(whole, negative_zero)
    parts = [whole]
    if decimals:
        rows = len(values)
        parts.append(Cell(np.full((rows, 1), ord("."), np.uint8), np.ones((rows, 1), bool)))
        parts.append(Cell(_right_aligned_digits(rounded % scale, decimals),
                          np.ones((rows, decimals), bool)))
    cell = Cell(np.concatenate([p.matrix for p in parts], axis=1),
                np.concatenate([p.valid for p in parts], axis=1))
    slow = np.flatnonzero(~fast)
    if len(slow):
        texts = [("%.*f" % (decimals, v)).encode() for v in values[slow].tolist()]
        cell = _overwritten(cell, slow, texts)
    return cell


def _with_minus(cell, rows):
    """The cell with a minus sign in front of the given rows' text."""
    if not len(rows):
        return cell
    matrix = np.concatenate([np.zeros((len(cell.matrix), 1), np.uint8), cell.matrix], axis=1)
    valid = np.concatenate([np.zeros((len(cell.valid), 1), bool), cell.valid], axis=1)
    first = np.argmax(valid[rows], axis=1)  # the first byte of each row's text
    matrix[rows, first - 1] = ASCII_MINUS
    valid[rows, first - 1] = True
    return Cell(matrix, valid)


def _overwritten(cell, rows, texts):
    """The cell with the given rows' text replaced (right-aligned)."""
    width = max(cell.matrix.shape[1], max(map(len, texts)))
    pad = width - cell.matrix.shape[1]
    matrix = np.pad(cell.matrix, ((0, 0), (pad, 0)))
    valid = np.pad(cell.valid, ((0, 0), (pad, 0)))
    for row, text in zip(rows.tolist(), texts):
        valid[row] = False
        valid[row, width - len(text):] = True
        matrix[row, width - len(text):] = np.frombuffer(text, dtype=np.uint8)
    return Cell(matrix, valid)


def text_cell(texts, codes):
    """Row i is texts[codes[i]] (str, written as UTF-8)."""
    encoded = [t.encode() for t in texts] or [b""]
    width = max(1, max(map(len, encoded)))
    table = np.zeros((len(encoded), width), dtype=np.uint8)
    for i, t in enumerate(encoded):
        table[i, :len(t)] = np.frombuffer(t, dtype=np.uint8)
    lengths = np.array([len(t) for t in encoded], dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    return Cell(table[codes], np.arange(width) < lengths[codes][:, None])


def blank_where(cell, blank):
    """The cell with the rows marked `blank` empty."""
    return Cell(cell.matrix, cell.valid & ~np.asarray(blank, dtype=bool)[:, None])


def join_rows(cells, separator=b",", end=b"\n"):
    """The rows as bytes: each row's cells joined by `separator`, ended by `end`."""
    rows = len(cells[0].matrix)
    matrices, valids = [], []
    for i, cell in enumerate(cells):
        tail = end if i == len(cells) - 1 else separator
        matrices += [cell.matrix, np.broadcast_to(np.frombuffer(tail, np.uint8), (rows, len(tail)))]
        valids += [cell.valid, np.ones((rows, len(tail)), dtype=bool)]
    return np.concatenate(matrices, axis=1)[np.concatenate(valids, axis=1)].tobytes()
