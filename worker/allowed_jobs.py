"""Only this project's own job functions run in the worker.

An RQ job names its function, and its callbacks, by dotted path, and RQ
imports and calls whatever the path names: the JSON serializer stops pickle,
but a job naming ``os.system`` would still run. Whoever can write to Redis
must not be able to run code, so the worker loads jobs as ``AllowedJob``,
which checks every path the job names against ``ALLOWED_FUNCTIONS`` before
anything is imported. A job that names anything else fails, without retries,
into RQ's failed registry with the reason; nothing it names is imported.
"""

from __future__ import annotations

from rq.exceptions import DeserializationError
from rq.job import Job

# Every function the project enqueues (worker/consumer.py and worker/notifier.py;
# events requeued by `failed requeue` are the same jobs). Jobs use no callbacks.
ALLOWED_FUNCTIONS = frozenset({"worker.jobs.apply_event", "worker.jobs.notify_host"})


class RefusedJob(Exception):
    """The job names code that is not one of the project's job functions."""


class AllowedJob(Job):
    def refusal(self) -> str | None:
        """Why this job may not run, or None when it names only allowed code."""
        try:
            func_name, instance = self.func_name, self.instance
        except DeserializationError:
            return "refused: the job's data cannot be read as a job"
        if not isinstance(func_name, str) or func_name not in ALLOWED_FUNCTIONS:
            return (
                f"refused to run {_shown(func_name)}: not one of this project's job functions "
                f"({', '.join(sorted(ALLOWED_FUNCTIONS))})"
            )
        if instance is not None:
            return f"refused to run {func_name} on an instance: the project's jobs are plain functions"
        for kind in ("success", "failure", "stopped"):
            name = getattr(self, f"_{kind}_callback_name", None)
            if name:
                return (
                    f"refused to run {func_name}: it names a {kind} callback ({_shown(name)}); "
                    "the project's jobs have none"
                )
        return None

    @property
    def func(self):
        reason = self.refusal()
        if reason:
            raise RefusedJob(reason)
        return super().func

    # The callbacks run after the job succeeded, failed or was stopped. A
    # refused job has none: nothing it names runs, and the refusal stays the
    # reason it failed.
    @property
    def success_callback(self):
        return None if self.refusal() else super().success_callback

    @property
    def failure_callback(self):
        return None if self.refusal() else super().failure_callback

    @property
    def stopped_callback(self):
        return None if self.refusal() else super().stopped_callback

    @property
    def should_retry(self) -> bool:
        return self.refusal() is None and super().should_retry


def _shown(name) -> str:
    return repr(name)[:200]
