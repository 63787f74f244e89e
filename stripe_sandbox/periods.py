"""Billing period arithmetic: calendar months and years like Stripe."""

import calendar
from datetime import UTC, datetime

DAY = 86400


def add_interval(ts: int, interval: str, count: int = 1) -> int:
    """``ts`` moved forward by ``count`` intervals (day, week, month, year)."""
    if interval == "day":
        return ts + count * DAY
    if interval == "week":
        return ts + count * 7 * DAY
    months = count * (12 if interval == "year" else 1)
    return _add_months(ts, months)


def _add_months(ts: int, months: int) -> int:
    # Stripe keeps the day of month, clamping to the month's last day.
    start = datetime.fromtimestamp(ts, tz=UTC)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    moved = start.replace(year=year, month=month, day=day)
    return int(moved.timestamp())


def period_after(start: int, price: dict) -> int:
    recurring = price["recurring"]
    return add_interval(start, recurring["interval"], recurring["interval_count"])
