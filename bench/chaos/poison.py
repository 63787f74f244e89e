"""Poison: validly signed events whose values the database cannot hold or the
code does not expect (the shapes issue 8 found stranding whole batches).

Each must end failed (in the ledger or RQ's failure handling) or be refused
at the door with a 4xx; never strand its neighbours, never change a row.
Several aim at real subscriptions with a ``created`` newer than anything
else, so a poison event that got applied shows up as a wrong final row.
"""

from __future__ import annotations

import copy
import random

from bench.events import subscription

BIG = 2**63  # one past the largest BIGINT
HUGE_QUANTITY = 2**40  # past INTEGER


def _event(event_id: str, event_type: str, obj: dict, created: int) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def _sub(sub_id, customer="cus_chaospoison", created=1_767_225_600, **changes) -> dict:
    obj = subscription(sub_id, customer, created)
    obj.update(changes)
    return obj


def _with_item(obj: dict, **changes) -> dict:
    obj = copy.deepcopy(obj)
    obj["items"]["data"][0].update(changes)
    return obj


def _invoice(invoice_id: str, subscription_ref) -> dict:
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": "cus_chaospoison",
        "status": "paid",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"metadata": {}, "subscription": subscription_ref},
        },
    }


def shapes(n: int, target: dict, newest: int) -> dict[str, dict]:
    """Every poison shape, the ``n``-th copy; ``target`` is a real subscription
    object (a snapshot from its history) and ``newest`` a ``created`` later
    than any real event."""
    upd = "customer.subscription.updated"
    own = f"sub_chaospoison{n}"
    real = target["id"]
    return {
        "nul_in_event_id": _event(f"evt_chaos\x00nul{n}", upd, _sub(own), newest),
        "event_id_too_long": _event("evt_" + "x" * 300 + str(n), upd, _sub(own), newest),
        "created_2_63": _event(f"evt_chaosbigcreated{n}", upd, {**target, "status": "canceled"}, BIG),
        "integer_subscription_id": _event(f"evt_chaosintsub{n}", upd, _sub(own, id=424242 + n), newest),
        "missing_subscription_id": _event(
            f"evt_chaosnosub{n}", upd, {k: v for k, v in _sub(own).items() if k != "id"}, newest
        ),
        "subscription_id_too_long": _event(f"evt_chaoslongsub{n}", upd, _sub("sub_" + "y" * 300), newest),
        "customer_id_too_long": _event(f"evt_chaoslongcus{n}", upd, _sub(own, customer="cus_" + "z" * 300), newest),
        "status_10kb": _event(f"evt_chaosbigstatus{n}", upd, {**target, "status": "s" * 10_240}, newest),
        "quantity_2_40": _event(f"evt_chaosbigqty{n}", upd, _with_item(target, quantity=HUGE_QUANTITY), newest),
        "items_not_a_list": _event(f"evt_chaositems{n}", upd, {**target, "items": "garbage"}, newest),
        "invoice_integer_subscription": _event(
            f"evt_chaosintinv{n}", "invoice.paid", _invoice(f"in_chaospoison{n}", 4242 + n), newest
        ),
        "invoice_parent_not_an_object": _event(
            f"evt_chaosinvparent{n}",
            "invoice.paid",
            {**_invoice(f"in_chaosparent{n}", real), "parent": "garbage"},
            newest,
        ),
        "checkout_reference_5000_digits": _event(
            f"evt_chaosref{n}",
            "checkout.session.completed",
            {
                "id": f"cs_chaos{n}",
                "object": "checkout.session",
                "mode": "subscription",
                "status": "complete",
                "customer": "cus_chaospoison",
                "client_reference_id": "9" * 5000,
                "subscription": own,
            },
            newest,
        ),
    }


STREAM_COPY = 1000  # numbering of the copies written straight into the stream, so their ids differ


def poison_events(
    per_shape: int, snapshots: list[dict], newest: int, rng: random.Random
) -> list[tuple[str, tuple[str, dict]]]:
    """(path, (shape, event)): ``per_shape`` of each shape posted to the web, as
    many written straight into the stream (the web may refuse them at the door;
    the worker must still contain them), and entries whose ``received`` is not
    a time; aimed at random real subscriptions."""
    out = []
    for n in range(per_shape):
        out += [("web", pair) for pair in shapes(n, rng.choice(snapshots), newest + n).items()]
        out += [("stream", pair) for pair in shapes(STREAM_COPY + n, rng.choice(snapshots), newest + n).items()]
        own = _event(f"evt_chaosreceived{n}", "customer.subscription.updated", _sub(f"sub_chaosreceived{n}"), newest)
        out.append(("stream", ("received_not_a_time", own)))
    return out
