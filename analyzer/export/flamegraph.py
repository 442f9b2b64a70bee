"""A flame graph as a standalone SVG (no script, so it opens in any browser and in an <img>),
from collapsed stacks {"outer;...;inner": value}: each frame a box as wide as the value of
everything above it, its callers below it, the root at the bottom; hover shows the exact value.

Bounds: one box per distinct stack prefix; boxes narrower than MIN_WIDTH pixels are merged into
their parent's width and not drawn (their value is still in the parent's)."""

import hashlib
import html

from ..definitions.units import format_bytes

ROW = 17  # pixels per stack level
MIN_WIDTH = 0.5
FONT = 11
CHAR = 6.6  # average glyph width at FONT, to cut labels that would not fit


def _tree(stacks):
    root = {"value": 0, "children": {}}
    for stack, value in stacks.items():
        root["value"] += value
        node = root
        for frame in stack.split(";"):
            node = node["children"].setdefault(frame, {"value": 0, "children": {}})
            node["value"] += value
    return root


def _colour(name):
    """A warm colour fixed by the frame's name, so a function keeps its colour across graphs."""
    h = hashlib.sha1(name.encode()).digest()
    return f"rgb({205 + h[0] % 50},{80 + h[1] % 120},{h[2] % 60})"


def svg(stacks, title, width=1200, unit=format_bytes):
    """The SVG text of a flame graph of `stacks` (values in bytes unless `unit` says else)."""
    root = _tree(stacks)
    boxes = []

    def depth(node):
        return 1 + max((depth(c) for c in node["children"].values()), default=0)

    levels = depth(root)
    height = (levels + 1) * ROW + 40
    total = root["value"] or 1
    scale = (width - 20) / total

    def place(node, name, x, level):
        w = node["value"] * scale
        if w < MIN_WIDTH:
            return
        y = height - 10 - (level + 1) * ROW
        label = f"{name} ({unit(node['value'])}, {100.0 * node['value'] / total:.1f}%)"
        text = name if len(name) * CHAR < w - 4 else (name[:int((w - 4) / CHAR) - 2] + ".."
                                                        if w > 4 * CHAR else "")
        boxes.append(f"<g><title>{html.escape(label)}</title>"
                     f"<rect x='{x:.2f}' y='{y}' width='{w:.2f}' height='{ROW - 1}' "
                     f"fill='{_colour(name)}' rx='2'/>" +
                     (f"<text x='{x + 3:.2f}' y='{y + ROW - 5}'>{html.escape(text)}</text>"
                      if text else "") + "</g>")
        child_x = x
        for child_name, child in sorted(node["children"].items()):
            place(child, child_name, child_x, level + 1)
            child_x += child["value"] * scale

    place(root, f"all ({unit(root['value'])})", 10.0, 0)
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' font-family='sans-serif' font-size='{FONT}'>"
            f"<rect width='100%' height='100%' fill='#fdfdf8'/>"
            f"<text x='{width / 2}' y='20' text-anchor='middle' font-size='15'>"
            f"{html.escape(title)}</text>" + "".join(boxes) + "</svg>\n")


def folded_text(stacks):
    """The collapsed-stack text (one "frame;frame;frame value" line per stack), which
    flamegraph.pl and speedscope open."""
    return "".join(f"{stack} {value}\n" for stack, value in sorted(stacks.items()))
