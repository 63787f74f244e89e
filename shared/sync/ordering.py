"""Is an event newer than the state we hold? The order-safety rule in one place.

Stripe's ``created`` is in whole seconds, and one subscription's events often
share a second (``created`` and ``updated`` at checkout), so comparing seconds
alone cannot order them. When they tie, the current object is fetched from
Stripe (the documented cure) and stored with the time of the fetch: any event
created comfortably before that fetch is already reflected in it. An event
created within the clock margin of a stored fetch cannot be ordered against
it either, so it is a tie too: fetched, never applied over the fetch.
"""

from __future__ import annotations

import enum

# Seconds of slack between Stripe's clock and ours when trusting a fetch.
CLOCK_MARGIN_SECONDS = 2


class Decision(enum.Enum):
    APPLY = "apply"  # the event's snapshot is newer than the row
    STALE = "stale"  # the row already holds this change or a later one
    TIE = "tie"  # same second as the row's version: fetch to know


def is_covered_by_fetch(created: int, fetched_at: float | None) -> bool:
    return fetched_at is not None and created + 1 + CLOCK_MARGIN_SECONDS <= fetched_at


def is_near_fetch(created: int, fetched_at: float | None) -> bool:
    """Too close to the stored fetch, either side, to tell whether the fetch already holds this event."""
    return fetched_at is not None and created <= fetched_at + CLOCK_MARGIN_SECONDS


def decide(created: int, version_created: int, fetched_at: float | None) -> Decision:
    if is_covered_by_fetch(created, fetched_at):
        return Decision.STALE
    if is_near_fetch(created, fetched_at):
        # Applying it could put an older state over a newer fetch (a checkout's incomplete
        # ``customer.subscription.created`` over what the return from Checkout read): fetch to know.
        return Decision.TIE
    if created > version_created:
        return Decision.APPLY
    if created < version_created:
        return Decision.STALE
    return Decision.TIE


def fetch_supersedes(version_created: int, stored_fetched_at: float | None, fetched_at: float) -> bool:
    """May an object fetched at ``fetched_at`` replace the stored state?

    Only when the fetch is surely newer than both what the stored state came
    from: the event snapshot it holds (which must be covered by the fetch) and
    any earlier fetch. Within the clock margin we cannot tell, so the stored
    state is kept: the next event or fetch settles it.
    """
    newer_than_event = is_covered_by_fetch(version_created, fetched_at)
    return newer_than_event and (stored_fetched_at is None or stored_fetched_at <= fetched_at)


def fetch_is_current(version_created: int, stored_fetched_at: float | None, fetched_at: float) -> bool:
    """May an object fetched for a pointer (a thin event) replace the stored state?

    The fetch was made after the notification, so it holds at least that
    change. It yields only to what is surely newer: a later fetch, or an event
    snapshot created after the fetch by more than the clock margin. Within the
    margin the fetch is trusted, as a tie-break fetch is.
    """
    if stored_fetched_at is not None and stored_fetched_at > fetched_at:
        return False
    return version_created <= fetched_at + CLOCK_MARGIN_SECONDS
