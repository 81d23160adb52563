"""Numbers, intervals, dates and names as the report shows them: for people, not for a
statistician ("+12%", "3 Dec 2026, 09:00 UTC", "conversion rate").

Every formatter takes a missing value (None: the readers of ``experiments._reading`` turn NaN
and infinities into None) and shows it as :data:`MISSING`, so no cell can read "nan"."""

from __future__ import annotations

import html
import math
from datetime import UTC, date, datetime, timedelta
from typing import Final

from experiments._reading import text as _text

MISSING: Final = "\u2013"
"""What a missing, NaN or infinite number is shown as."""

_RATE_METRICS: Final = frozenset({"conversion_rate", "click_rate"})


def escape(value: object) -> str:
    """Any input as HTML text: experiment, segment and variant names are typed by users and
    the file is opened in a browser."""
    return html.escape(_text(value), quote=True)


def is_rate(metric: str) -> bool:
    return metric in _RATE_METRICS or metric.startswith("activity:")


def metric_label(metric: str) -> str:
    if metric.startswith("activity:"):
        return f"{metric.removeprefix('activity:').replace('_', ' ')} rate"
    return metric.replace("_", " ") if metric else "metric"


def _minus(text: str) -> str:
    # A typographic minus: a hyphen is easy to miss in a table of numbers.
    return text.replace("-", "\u2212")


def pct(value: float | None, *, signed: bool = False, digits: int | None = None) -> str:
    if value is None:
        return MISSING
    if digits is None:
        digits = 0 if abs(value) >= 0.01 else 1
    return _minus(f"{value * 100:{'+' if signed else ''}.{digits}f}%")


def metric_value(value: float | None, metric: str) -> str:
    if value is None:
        return MISSING
    return pct(value, digits=2) if is_rate(metric) else _minus(f"{value:,.2f}")


def abs_lift(value: float | None, metric: str) -> str:
    if value is None:
        return MISSING
    if is_rate(metric):
        return _minus(f"{value * 100:+.2f} pp")
    return _minus(f"{value:+,.2f}")


def count(value: float | None) -> str:
    # Customers and conversions are whole people: never "62,656.12 customers".
    return MISSING if value is None else _minus(f"{round(value):,}")


def money(value: float | None) -> str:
    return MISSING if value is None else _minus(f"{value:,.2f}")


def p_text(value: float | None) -> str:
    if value is None:
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def p_is(value: float | None, name: str = "p") -> str:
    """``p = 0.012`` or ``p < 0.001``: never "p = < 0.001"."""
    text = p_text(value)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


def chance(value: float | None) -> str:
    if value is None:
        return MISSING
    if value > 0.999:
        return "> 99.9%"
    if value < 0.001:
        return "< 0.1%"
    return f"{value * 100:.1f}%"


def interval_ends(
    pair: tuple[float | None, float | None], fmt: str, metric: str = ""
) -> tuple[str, str] | None:
    low, high = pair
    if low is None or high is None:
        return None
    if fmt == "pct":
        return pct(low), pct(high)
    return abs_lift(low, metric), abs_lift(high, metric)


def interval(pair: tuple[float | None, float | None], fmt: str, metric: str = "") -> str:
    ends = interval_ends(pair, fmt, metric)
    return MISSING if ends is None else f"{ends[0]} to {ends[1]}"


def level(alpha: float) -> str:
    return f"{(1.0 - alpha) * 100:g}%"


def instant(value: object) -> datetime | None:
    """An ISO timestamp as an aware UTC datetime (naive ones are taken as UTC), or None."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(_text(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def moment_label(moment: datetime) -> str:
    """A date people read without guessing the year or the zone: "2 Dec 2026, 09:00 UTC"."""
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def day_label(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def duration(span: timedelta) -> str:
    hours = span.total_seconds() / 3600.0
    if hours < 1.0:
        minutes = math.floor(span.total_seconds() / 60.0)
        return "under a minute" if minutes < 1 else f"{minutes} minute{'' if minutes == 1 else 's'}"
    if hours < 48.0:
        whole = max(0, math.floor(hours))
        return f"{whole} hour{'' if whole == 1 else 's'}"
    days = math.floor(hours / 24.0)
    return f"{days} days"


def control_tag(name: str, control: str) -> str:
    # "control (control)" says nothing twice.
    return '<span class="control">(control)</span>' if name == control != "control" else ""
