"""Gunicorn settings for the web process (the Procfile and docker-compose load this file).

PORT and WEB_CONCURRENCY are the platform conventions; PROMETHEUS_MULTIPROC_DIR,
when set, is where every worker process keeps its metrics for /metrics to add up.
"""
import multiprocessing
import os
import shutil

bind = f"0.0.0.0:{os.environ.get('PORT') or 8000}"
# Sync workers, two per core: the webhook is CPU work plus one Redis round
# trip, so a second worker per core runs while the first waits on Redis or
# its socket; on 2 cores -w 4 beat -w 2 clearly (docs/benchmarks.md).
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2)
worker_tmp_dir = "/dev/shm"  # heartbeat files in memory: a slow disk must not get workers killed


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
