"""The access cache against concurrent writes and a listener that keeps being killed (PostgreSQL).

Readers ask GET /api/v1/customers/<id>/access for random users as fast as
they can while a writer commits a new email for a random user every few
milliseconds and, every few seconds, every web process's listening
connection is terminated. Afterwards each answer is checked against the
commits: an answer is stale when a newer email had been committed more than
``window_ms`` before its request started. The design's bound is a few
milliseconds while the feed is heard, and a lost feed empties the cache.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.access import populate
from bench.apply import fresh_database
from bench.procs import Gunicorn, service_env
from devrun.redis_server import LocalRedis, free_port
from shared.infra.db import open_database


@dataclass(frozen=True)
class RacePlan:
    users: int = 50
    readers: int = 8
    web_workers: int = 4
    seconds: int = 20
    write_every_ms: int = 5
    kill_every_s: float = 3.0
    window_ms: float = 10.0


QUICK = RacePlan(seconds=3, kill_every_s=1.0)


class Race:
    def __init__(self, url: str, port: int, key: str, plan: RacePlan):
        self.url, self.port, self.key, self.plan = url, port, key, plan
        self.commits: dict[int, list[tuple[float, str]]] = {n: [] for n in range(plan.users)}
        self.answers: list[tuple[float, int, str, int]] = []
        self.kills = 0
        self.stop = threading.Event()

    def run(self) -> dict:
        threads = [threading.Thread(target=self.read) for _ in range(self.plan.readers)]
        threads += [threading.Thread(target=self.write), threading.Thread(target=self.kill_listeners)]
        for thread in threads:
            thread.start()
        time.sleep(self.plan.seconds)
        self.stop.set()
        for thread in threads:
            thread.join()
        return self.verdict()

    def read(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        while not self.stop.is_set():
            n = random.randrange(self.plan.users)
            started = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request("GET", f"/api/v1/customers/host-{n}/access", headers=headers)
            response = conn.getresponse()
            email = json.loads(response.read()).get("email", "")
            conn.close()
            self.answers.append((started, n, email, response.status))

    def write(self) -> None:
        db = open_database(self.url)
        for change in range(1, 10**9):
            if self.stop.wait(self.plan.write_every_ms / 1000):
                break
            n = random.randrange(self.plan.users)
            email = f"change{change}-{n}@example.com"
            db.execute_sql('UPDATE "user" SET email = %s WHERE external_id = %s', (email, f"host-{n}"))
            self.commits[n].append((time.monotonic(), email))  # after the commit returned
        db.close()

    def kill_listeners(self) -> None:
        db = open_database(self.url)
        while not self.stop.wait(self.plan.kill_every_s):
            db.execute_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'portal-access-listener'"
            )
            self.kills += 1
        db.close()

    def verdict(self) -> dict:
        window = self.plan.window_ms / 1000
        stale, worst = 0, 0.0
        for started, n, email, status in self.answers:
            history = self.commits[n]
            order = {written: index for index, (_, written) in enumerate(history)}
            due = [index for index, (at, _) in enumerate(history) if at < started - window]
            if status == 200 and due and order.get(email, -1) < due[-1]:
                stale += 1
                worst = max(worst, started - history[order.get(email, -1) + 1][0])
        return {
            "answers": len(self.answers),
            "non200": sum(status != 200 for *_, status in self.answers),
            "commits": sum(len(history) for history in self.commits.values()),
            "listener_kills": self.kills,
            "window_ms": self.plan.window_ms,
            "stale": stale,
            "worst_stale_ms": round(1000 * worst, 1),
        }


def run_race(workdir: Path, plan: RacePlan) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    redis_server = LocalRedis(workdir / "redis-race").start()
    try:
        with fresh_database("postgres", workdir, "race") as url:
            key = populate(plan.users)
            env = service_env(DATABASE_URL=url, REDIS_URL=redis_server.url, STRIPE_WEBHOOK_SECRET="whsec_bench_race")
            web = Gunicorn("portal_service:create_app()", free_port(), plan.web_workers, env, workdir / "gunicorn.log")
            web.start()
            try:
                return Race(url, web.port, key, plan).run()
            finally:
                web.stop()
    finally:
        redis_server.stop()
