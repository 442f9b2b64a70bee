"""The bulk figures of a logged change sequence (analyzer/metrics/run_figures.py) equal the same
figures counted by hand, step by step, over explicit sets of pages."""

import numpy as np

from analyzer.metrics.frag import MAX_ORDER
from analyzer.metrics.run_figures import block_counts_bulk, changed_rows, running_figures


def greedy_blocks(first, end):
    """Buddy blocks per order of the pages [first, end), split page by page (the largest aligned
    block that fits at each page, capped at MAX_ORDER)."""
    counts = [0] * (MAX_ORDER + 1)
    page = first
    while page < end:
        order = 0
        while order < MAX_ORDER and page % (2 << order) == 0 and page + (2 << order) <= end:
            order += 1
        counts[order] += 1
        page += 1 << order
    return counts


def test_bulk_block_counts_equal_a_page_by_page_split():
    rng = np.random.default_rng(11)
    first = rng.integers(0, 1 << 24, 400)
    end = first + rng.integers(1, 6000, 400)
    # aligned and one-short runs, where the split point is an edge case
    first = np.concatenate([first, [0, 1, 1024, 1023, 4096, (1 << 40) - 3]])
    end = np.concatenate([end, [1024, 1024, 5120, 2048, 4096 + 4096, (1 << 40) + 5000]])
    expected = [greedy_blocks(int(a), int(b)) for a, b in zip(first, end)]
    assert block_counts_bulk(first, end).tolist() == expected


def random_log(rng, spaces, steps_per_space):
    """A log over `spaces` spaces of disjoint runs, and the figures after each step counted from
    the explicit run list of each space."""
    reset, step, first, end, sign, expected, new_space = [], [], [], [], [], [], []
    for _ in range(spaces):
        live = []
        for n in range(steps_per_space):
            index = len(reset)
            is_reset = n == 0 or rng.random() < 0.05
            reset.append(is_reset)
            new_space.append(n == 0)
            changes = []
            if is_reset:
                live = []
                for _ in range(int(rng.integers(0, 4))):
                    a = int(rng.integers(0, 1 << 16))
                    live.append((a, a + int(rng.integers(1, 40))))
                changes = [(a, b, 1) for a, b in live]
            else:
                if live and rng.random() < 0.5:
                    run = live.pop(int(rng.integers(len(live))))
                    changes.append(run + (-1,))
                for _ in range(int(rng.integers(0, 3))):
                    a = int(rng.integers(0, 1 << 16))
                    run = (a, a + int(rng.choice([3, 8, 8, 17, 100])))
                    live.append(run)
                    changes.append(run + (1,))
            for a, b, s in changes:
                step.append(index)
                first.append(a)
                end.append(b)
                sign.append(s)
            sizes = [b - a for a, b in live]
            blocks = np.zeros(MAX_ORDER + 1, dtype=np.int64)
            for a, b in live:
                blocks += greedy_blocks(a, b)
            expected.append((sum(sizes), len(live), max(sizes, default=0), blocks.tolist()))
    arrays = [np.array(column, dtype=np.int64) for column in (step, first, end, sign)]
    return np.array(reset), arrays, expected, np.array(new_space)


def test_running_figures_equal_the_figures_of_each_step_counted_by_hand():
    rng = np.random.default_rng(5)
    reset, (step, first, end, sign), expected, _ = random_log(rng, spaces=6, steps_per_space=80)
    free, runs, largest, blocks = running_figures(reset, step, first, end, sign, with_blocks=True)
    got = list(zip(free.tolist(), runs.tolist(), largest.tolist(), blocks.tolist()))
    assert got == expected


def test_the_largest_run_falls_back_when_the_only_run_of_its_size_goes():
    # step 0: runs of 10 and 4 pages; step 1: the 10 goes; step 2: a second 4 comes, one 4 goes
    reset = np.array([True, False, False])
    step, first, end, sign = (np.array(c, dtype=np.int64) for c in zip(
        (0, 0, 10, 1), (0, 20, 24, 1), (1, 0, 10, -1), (2, 20, 24, -1), (2, 40, 44, 1)))
    free, runs, largest, _ = running_figures(reset, step, first, end, sign, with_blocks=False)
    assert largest.tolist() == [10, 4, 4]
    assert free.tolist() == [14, 4, 4] and runs.tolist() == [2, 1, 1]


def test_rows_are_kept_only_when_a_figure_changed_or_a_space_begins():
    values = np.array([5, 5, 6, 6, 6, 7])
    new_space = np.array([True, False, False, True, False, False])
    assert changed_rows((values,), new_space).tolist() == [True, False, True, True, False, True]
