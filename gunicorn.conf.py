"""Gunicorn settings for the web process; production and bench/ both use them.

Sync workers: the webhook does CPU work (HMAC, JSON) and one short Redis
round trip, so threads or async buy little and would share one GIL. Two
workers per core (the default) keep a core busy while its other worker
waits on Redis or the socket; docs/benchmarks.md has the measurements.
"""
import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count())
worker_class = "sync"
timeout = 30  # a stuck request is killed well before Stripe gives up on it
graceful_timeout = 30
