"""The ANC chart on a patient's page: an inline SVG drawn on the server (no chart library, works
without JavaScript). Values over time, the protocol's thresholds as labelled lines, the bands
shaded, and low episodes (results outside the normal band) marked, with each point's band also
written in its tooltip and shape so the chart never relies on colour alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 56
# Below the plot: a strip for the supplies dispensed and the interruptions, then the dates.
STRIP = 10
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
    *,
    now: datetime | None = None,
    next_due: date | None = None,
    dispenses: list[tuple[datetime, int]] | None = None,
    interruptions: list[tuple[date, date | None]] | None = None,
) -> dict[str, Any] | None:
    """Geometry for the template; `band_of(value)` names a value's band, `edges` are
    (lowest value, band) pairs from `web.selectors.band_edges`. On the same time axis: today,
    the next draw due, each supply dispensed (from its day for its days) and each interruption
    (from its day to its resumption, or to today)."""
    if not results:
        return None
    results = sorted(results)
    top_value = max(4000, max(v for _, v in results) * 11 // 10)
    first = results[0][0]

    def start_of(day: date) -> datetime:
        return datetime.combine(day, time.min, zone)

    ends = [results[-1][0]]
    if now is not None:
        ends.append(now)
    if next_due is not None:
        ends.append(start_of(next_due + timedelta(days=1)))
    last = max(ends)
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
    plot_end = LEFT + plot_w

    def clip(x: float) -> float:
        return round(min(max(x, LEFT), plot_end), 1)

    strip_y = HEIGHT - BOTTOM + 4
    supplies = []
    for moment, days in dispenses or []:
        begin = start_of(moment.astimezone(zone).date())
        x0, x1 = clip(x_of(begin)), clip(x_of(begin + timedelta(days=days)))
        if x1 > LEFT and x0 < plot_end:
            supplies.append(
                {
                    "x": x0,
                    "width": max(x1 - x0, 2.0),
                    "label": f"{begin:%Y-%m-%d}: {days} day{'' if days == 1 else 's'} dispensed",
                }
            )
    paused = []
    for since, until in interruptions or []:
        stop = start_of(until) if until else (now or last)
        x0, x1 = clip(x_of(start_of(since))), clip(x_of(stop))
        if x1 > LEFT and x0 < plot_end:
            paused.append(
                {
                    "x": x0,
                    "width": max(x1 - x0, 2.0),
                    "label": f"interrupted from {since:%Y-%m-%d}"
                    + (f" to {until:%Y-%m-%d}" if until else ""),
                }
            )
    # About five dates along the bottom, at local midnights.
    total_days = max((last - first).days, 1)
    step = max(1, round(total_days / 5))
    day = first.astimezone(zone).date()
    dates = []
    while start_of(day) <= last:
        x = x_of(start_of(day))
        if LEFT <= x <= plot_end:
            dates.append({"x": x, "label": f"{day:%m-%d}"})
        day += timedelta(days=step)
    today_x = clip(x_of(now)) if now is not None else None
    due_x = clip(x_of(start_of(next_due))) if next_due is not None else None
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
        "strip_y": strip_y,
        "strip_h": STRIP,
        "supplies": supplies,
        "interruptions": paused,
        "dates": dates,
        "dates_y": strip_y + STRIP + 16,
        "today_x": today_x,
        "today": now.astimezone(zone).date() if now is not None else None,
        "due_x": due_x,
        "next_due": next_due,
    }
