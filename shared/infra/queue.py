"""The RQ queue that holds events which failed in their batch.

Both processes name it here: the worker enqueues and runs its jobs, the
operator commands read and requeue its failures. JSON on both sides: whoever
can write to Redis must not be able to run code in the worker.
"""

from __future__ import annotations

import redis
from rq import Queue
from rq.serializers import JSONSerializer

QUEUE_NAME = "billing"


def billing_queue(conn: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=conn, serializer=JSONSerializer)
