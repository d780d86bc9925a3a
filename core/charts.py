"""Bar charts drawn on the server as inline SVG (nothing is fetched at run time)."""

from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 1000, 170
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 22


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _label(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def hourly_bars(
    hours: Sequence[datetime],
    series: Sequence[tuple[str, str, Sequence[int]]],
    *,
    title: str,
) -> SafeString:
    """Stacked bars, one per hour. ``series``: (name, CSS colour, one value per hour)."""
    totals = [sum(values[n] for _, _, values in series) for n in range(len(hours))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(hours), 1)
    bar_w = max(slot * 0.72, 1)
    rects = []
    for n, hour in enumerate(hours):
        x = LEFT + n * slot + (slot - bar_w) / 2
        base: float = TOP + plot_h
        label = timezone.localtime(hour).strftime("%H:00")
        for name, colour, values in series:
            value = values[n]
            if not value:
                continue
            h = plot_h * value / top
            base -= h
            rects.append(
                (f"{x:.1f}", f"{base:.1f}", f"{bar_w:.1f}", f"{h:.1f}", colour, label, name, value)
            )
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} {}: {}</title></rect>',
        rects,
    )
    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
        '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>',
        (
            (LEFT, WIDTH - RIGHT, y, y, LEFT - 4, y + 4, _label(value))
            for value, y in ((top, TOP), (top / 2, TOP + plot_h / 2), (0, TOP + plot_h))
        ),
    )
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" class="axis" text-anchor="middle">{}</text>',
        (
            (f"{LEFT + n * slot + slot / 2:.1f}", HEIGHT - 6, timezone.localtime(h).strftime("%H"))
            for n, h in enumerate(hours)
            if n % 3 == 0
        ),
    )
    return format_html(
        '<svg class="lb-chart" viewBox="0 0 {} {}" role="img" aria-label="{}">{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        grid,
        bars,
        ticks,
    )
