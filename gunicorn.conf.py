"""Gunicorn settings for the web process (the Procfile and docker-compose load this file).

PORT and WEB_CONCURRENCY are the platform conventions; PROMETHEUS_MULTIPROC_DIR,
when set, is where every worker process keeps its metrics for /metrics to add up.
"""

import gc
import multiprocessing
import os
import shutil

bind = f"0.0.0.0:{os.environ.get('PORT') or 8000}"
# Processes, two per core: the webhook is CPU work plus one Redis round trip,
# so a second process per core runs while the first waits on Redis or its
# socket (docs/benchmarks.md, "Why -w 4").
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2)
# Threads in each: a client that sends its headers and then stalls its body
# holds the thread reading it: each holds one thread of WEB_THREADS, and the
# others (and the other processes) go on answering (docs/operations.md, "Slow clients").
# Not an async worker class: its event loop would stop for every blocking
# psycopg2 query (a locked table) and every Argon2 hash, which threads run
# beside each other. Every thread may hold a database connection: keep
# WEB_CONCURRENCY x WEB_THREADS under PostgreSQL's max_connections (100).
# A buffering proxy in front (nginx in docker-compose.yml) keeps slow clients
# off gunicorn altogether.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS") or 16)
# A process takes no more connections than it has threads: one whose threads
# are all held stops accepting, and the kernel hands new connections (Stripe's)
# to the others, instead of queueing them behind the stalled ones. So each
# answer closes its connection (keepalive 0).
worker_connections = threads
keepalive = 0
worker_tmp_dir = "/dev/shm"  # heartbeat files in memory: a slow disk must not get workers killed
# The app is imported once, in the master, and the workers share its pages
# (copy-on-write): a worker's PSS falls from ~57 to ~26 MiB (docs/benchmarks.md,
# "Memory"). Fork-safe: create_app opens no connection (the database connects
# on a thread's first query; redis-py, the inbox writer and prometheus_client's
# multiprocess values start over in a new pid). New code needs a restart of the
# master (a HUP only replaces the workers, with the code the master holds).
preload_app = True


def when_ready(server):
    """Before the first fork: what the master holds is never collected, so the
    collector does not write to (and so copy) the pages the workers share
    (the gc.freeze() documentation's advice for a process that forks)."""
    gc.collect()
    gc.freeze()


def on_starting(server):
    """Start metrics from empty: files of a previous run would be counted again."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    """A dead worker's gauges must not be reported as live (its counters still add up)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
