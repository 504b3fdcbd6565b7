"""Bar charts as inline SVG strings: pure functions, numbers in, markup out."""

from __future__ import annotations

from html import escape

BAR = "#3b6ea8"


def bar_chart(title: str, counts: list[tuple[str, float]], unit: str = "", width: int = 470,
              value_text: dict[str, str] | None = None) -> str:
    """Horizontal bars, one per (label, value), longest scaled to the chart's width."""
    if not counts:
        return f'<figure class="chart"><figcaption>{escape(title)}</figcaption><p class="empty">nothing found</p></figure>'
    row, label_w, value_w = 22, 200, 70
    top = max(v for _, v in counts) or 1
    height = row * len(counts) + 4
    parts = [f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    span = width - label_w - value_w
    for n, (label, value) in enumerate(counts):
        y = n * row + 2
        w = max(1.0, span * value / top) if value else 0
        text = (value_text or {}).get(label) or f"{value:.3g}{unit}"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(_clip(label))}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{BAR}">'
            f'<title>{escape(label)}: {escape(text)}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" class="v" data-label="{escape(label)}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return f'<figure class="chart"><figcaption>{escape(title)}</figcaption>{"".join(parts)}</figure>'


def _clip(label: str, n: int = 30) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
