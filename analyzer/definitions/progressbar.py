"""A progress bar on stderr for the analyzer's long steps (tqdm, Debian's python3-tqdm), shown
only when stderr is a terminal, so logs, pipes and tests see nothing of it."""

import sys


def bar(iterable, total=None, desc=None, unit="it"):
    """`iterable`, with a bar counting its items when stderr is a terminal."""
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a comfort, not a result: run without it
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=None, leave=False,
                file=sys.stderr, mininterval=0.5)
