"""The apply benchmark's deliveries: a day of a small SaaS, compressed.

Per subscription: one ``created`` then ``updated`` events, each in its own
second (so the ordering rule never ties and Stripe is never called); some
``invoice.paid``; a ``checkout.session.completed`` per existing user; some
types we do not handle; and ~5% redeliveries of earlier events, placed well
after the first delivery as Stripe's retries are.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench import events

T0 = 1_767_225_600  # 2026-01-01
UNKNOWN_TYPES = ("customer.updated", "payment_intent.succeeded", "charge.succeeded", "invoice.finalized")


@dataclass(frozen=True)
class Mix:
    deliveries: list[tuple[str, str, bytes]]  # (event id, type, body), in stream order
    users: list[tuple[int, str]]  # (id, email) that must exist for the checkouts
    unique_ids: int


def share(total: int) -> dict:
    """How many of each kind, for ``total`` deliveries (10,000 -> 2,000 subscriptions)."""
    unique = total - total // 20
    counts = {"subs": total // 5, "checkout": total // 20, "invoice": total * 12 // 100, "unknown": total * 3 // 100}
    counts["updated"] = unique - counts["subs"] - counts["checkout"] - counts["invoice"] - counts["unknown"]
    return counts


def build(total: int, seed: int = 7) -> Mix:
    rng = random.Random(seed)
    counts = share(total)
    subs = [(f"sub_A{n:07d}", f"cus_A{n:07d}", T0 + rng.randrange(3600)) for n in range(counts["subs"])]
    timed = _subscription_events(subs, counts["updated"], rng)
    timed += _invoices(subs, counts["invoice"], rng)
    checkouts, users = _checkouts(subs, counts["checkout"])
    timed += checkouts + _unknown(counts["unknown"], rng)
    timed.sort(key=lambda item: item[0] + rng.uniform(-5, 5))  # Stripe does not deliver in order
    ordered = [(evt["id"], evt["type"], events.body_of(evt)) for _, evt in timed]
    return Mix(_with_redeliveries(ordered, total, rng), users, len(ordered))


def _subscription_events(subs, updates: int, rng) -> list:
    out, per_sub = [], [0] * len(subs)
    for _ in range(updates):
        per_sub[rng.randrange(len(subs))] += 1
    for (sub_id, customer, created), count in zip(subs, per_sub, strict=True):
        obj = events.subscription(sub_id, customer, created)
        out.append((created, events.event(f"evt_C{sub_id[5:]}", "customer.subscription.created", obj, created)))
        for k in range(1, count + 1):
            at = created + 60 * k  # a distinct second per event of this subscription
            obj = events.subscription(sub_id, customer, created, quantity=1 + k % 3)
            evt = events.event(
                f"evt_U{sub_id[5:]}{k:03d}", "customer.subscription.updated", obj, at, {"quantity": k % 3}
            )
            out.append((at, evt))
    return out


def _invoices(subs, count: int, rng) -> list:
    out = []
    for n in range(count):
        sub_id, customer, created = subs[n % len(subs)]
        at = created + 1 + n // len(subs)
        obj = events.invoice(f"in_A{n:07d}", customer, sub_id, at)
        out.append((at, events.event(f"evt_I{n:07d}", "invoice.paid", obj, at)))
    return out


def _checkouts(subs, count: int):
    out, users = [], []
    for n in range(count):
        sub_id, customer, created = subs[n]
        user_id, email = n + 1, f"user{n + 1}@bench.example"
        obj = events.checkout_session(f"cs_A{n:07d}", customer, user_id, email, sub_id)
        out.append((created, events.event(f"evt_K{n:07d}", "checkout.session.completed", obj, created)))
        users.append((user_id, email))
    return out, users


def _unknown(count: int, rng) -> list:
    out = []
    for n in range(count):
        at = T0 + rng.randrange(3600)
        obj = {"id": f"obj_X{n:07d}", "object": "misc", "customer": f"cus_X{n:07d}"}
        out.append((at, events.event(f"evt_X{n:07d}", UNKNOWN_TYPES[n % len(UNKNOWN_TYPES)], obj, at)))
    return out


def _with_redeliveries(ordered: list, total: int, rng) -> list:
    """Insert ``total - len(ordered)`` second deliveries, each 1,000+ places after its first."""
    out = list(ordered)
    gap = min(1000, len(ordered) // 2)
    for original in rng.sample(range(len(ordered)), total - len(ordered)):
        position = min(len(out), original + gap + rng.randrange(gap + 1))
        out.insert(position, ordered[original])
    return out
