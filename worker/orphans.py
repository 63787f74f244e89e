"""Stop RQ's scheduler when the worker that forked it dies outright.

RQ runs its scheduler in a forked child. A worker killed with SIGKILL (the OOM
killer, ``docker kill``, a supervisor giving up on a slow shutdown) cannot stop
that child, which then lives on as an orphan: it keeps the queue's scheduler
lock, heartbeats into Redis and enqueues retries for a worker that no longer
exists, outside whatever supervises the workers. On Linux we ask the kernel to
send each child SIGTERM when its parent dies; RQ's scheduler answers SIGTERM by
releasing its lock and exiting. Elsewhere the lock's TTL remains the fallback.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def stop_children_with_this_process() -> None:
    """Call once in the worker's main thread, before anything forks."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died between the fork and the prctl
            os.kill(os.getpid(), signal.SIGTERM)

    os.register_at_fork(after_in_child=in_child)
