"""How numbers are written for people: byte sizes in binary units, category labels that hold
numbers sorted by value, and what a trace's clock counts.

Every figure and table formats through here, so "4 TiB" is never "4,194,304 MiB" in one place
and right in another."""

import re

BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(count):
    """`count` bytes in the largest binary unit that keeps the number at least 1, with up to
    three significant digits: 4096 -> "4 KiB", 2**42 -> "4 TiB", 1536 -> "1.5 KiB"."""
    value, unit = float(count), 0
    while abs(value) >= 1024 and unit < len(BINARY_UNITS) - 1:
        value /= 1024
        unit += 1
    text = f"{value:.3g}" if value < 1000 else f"{value:,.0f}"
    return f"{text} {BINARY_UNITS[unit]}"


def natural_key(label):
    """Sort key that orders the numbers inside a label by value ("1,000" < "10,000" <
    "100,000"), the rest as text."""
    parts = re.split(r"(\d[\d,]*)", label)
    return [(0, int(p.replace(",", "")), "") if i % 2 else (1, 0, p) for i, p in enumerate(parts)]


# QEMU -icount shift=0 runs one guest instruction per ns of virtual time, and the kernel's
# calibration against the PIT (on the same virtual clock) then measures 1 GHz, up to the rounding
# of its 10 ms window (11,931 PIT ticks: 84 ppm; it gives 999,999,923 Hz). A host TSC does not
# land within that of exactly 1 GHz, so such a clock is taken for instructions, and said to be
# inferred.
ICOUNT_HZ = 1_000_000_000
ICOUNT_TOLERANCE = 100e-6


def counts_instructions(header):
    """True when the trace's ticks are guest instructions (QEMU -icount), inferred from a TSC
    that calibrated to 1 GHz within the calibration's rounding."""
    return (header.value_name("clock") == "tsc" and
            abs(header.clock_hz - ICOUNT_HZ) <= ICOUNT_HZ * ICOUNT_TOLERANCE)


def clock_text(header):
    """What the timestamps count, for people: "guest instructions (QEMU icount)" or the TSC's
    frequency."""
    if counts_instructions(header):
        return (f"guest instructions (QEMU icount, inferred: the TSC calibrated to "
                f"{header.clock_hz / 1e6:.3f} MHz, one tick per instruction)")
    if header.clock_hz:
        return f"{header.value_name('clock')} at {header.clock_hz / 1e6:.3f} MHz"
    return f"{header.value_name('clock')} at unknown frequency"


def duration_text(ticks, header):
    """A duration in ticks, in the clock's own terms."""
    if counts_instructions(header):
        return f"{ticks:,} guest instructions"
    if header.clock_hz:
        return f"{ticks} ticks = {ticks / header.clock_hz * 1e3:.3f} ms"
    return f"{ticks} ticks"
