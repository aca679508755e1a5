"""The ANC chart on a patient's page: an inline SVG drawn on the server (no chart library, works
without JavaScript). Values over time, the protocol's thresholds as labelled lines, the bands
shaded, and low episodes (results outside the normal band) marked, with each point's band also
written in its tooltip and shape so the chart never relies on colour alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36
SHAPES = {
    "normal": "circle",
    "green": "circle",
    "mild": "square",
    "ben_neutropenia": "square",
    "amber": "square",
}


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: int
    drawn: str
    band: str
    shape: str

    @property
    def triangle(self) -> str:
        x, y = self.x, self.y
        return f"{x},{y - 5} {x - 5},{y + 4} {x + 5},{y + 4}"

    @property
    def corner(self) -> tuple[float, float]:
        return (round(self.x - 4, 1), round(self.y - 4, 1))


def anc_chart(
    results: list[tuple[datetime, int]],
    edges: list[tuple[int, str]],
    band_of: Any,
    zone: Any,
    normal_band: str = "normal",
) -> dict[str, Any] | None:
    """Geometry for the template; `band_of(value)` names a value's band, `edges` are
    (lowest value, band) pairs from `web.selectors.band_edges`."""
    if not results:
        return None
    results = sorted(results)
    top_value = max(4000, max(v for _, v in results) * 11 // 10)
    first, last = results[0][0], results[-1][0]
    span = max((last - first).total_seconds(), 86400.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(moment: datetime) -> float:
        return round(LEFT + plot_w * (moment - first).total_seconds() / span, 1)

    def y_of(value: int) -> float:
        return round(TOP + plot_h * (1 - min(value, top_value) / top_value), 1)

    bands = []
    for index, (low, band) in enumerate(edges):
        high = edges[index + 1][0] if index + 1 < len(edges) else top_value
        if low >= top_value:
            break
        bands.append(
            {"band": band, "y": y_of(high), "height": round(y_of(low) - y_of(high), 1), "low": low}
        )
    thresholds = [
        {"value": low, "y": y_of(low), "label": f"{low}/µL"} for low, _ in edges if 0 < low
    ]
    points = [
        Point(
            x_of(moment),
            y_of(value),
            value,
            moment.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            band_of(value),
            SHAPES.get(band_of(value), "triangle"),
        )
        for moment, value in results
    ]
    episodes = []
    start: Point | None = None
    for point in points:
        low = point.band != normal_band
        if low and start is None:
            start = point
        if not low and start is not None:
            episodes.append({"x": start.x, "width": max(point.x - start.x, 4.0)})
            start = None
    if start is not None:
        episodes.append({"x": start.x, "width": max(LEFT + plot_w - start.x, 4.0)})
    ticks = [{"value": v, "y": y_of(v)} for v in range(0, top_value + 1, 1000)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right_edge": WIDTH - RIGHT,
        "plot_width": plot_w,
        "plot_height": plot_h,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "bands": bands,
        "thresholds": thresholds,
        "points": points,
        "line": " ".join(f"{p.x},{p.y}" for p in points),
        "episodes": episodes,
        "ticks": ticks,
        "first": first.astimezone(zone).date(),
        "last": last.astimezone(zone).date(),
    }
