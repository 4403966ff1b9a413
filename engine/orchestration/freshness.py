"""How old a stream's last successful sync may be, from its connector's cron schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

# Dagster's own cron arithmetic (DST-aware, the same that runs the schedules); not public API,
# so it is used here only.
from dagster._utils.schedules import get_latest_completed_cron_tick, get_next_cron_tick

TIMEZONE = "UTC"
MISSED_TICKS = 2


def schedule_interval(cron: str, now: datetime) -> timedelta:
    """The interval between the schedule's ticks around `now` (weekday crons: longer on weekends)."""
    previous = get_latest_completed_cron_tick(cron, now, TIMEZONE)
    return get_next_cron_tick(cron, previous + timedelta(seconds=1), TIMEZONE) - previous


def allowed_age(cron: str, now: datetime) -> timedelta:
    """A sync may be this old: one missed tick is tolerated, two are not."""
    return MISSED_TICKS * schedule_interval(cron, now)
