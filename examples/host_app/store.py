"""The host app's own SQLite file: its users, and what it last heard about each user's access.

One connection per request (``get_db``), closed when the request ends, as Flask's tutorial does.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from flask import current_app, g
from werkzeug.security import check_password_hash, generate_password_hash

DEMO_EMAIL = "ada@acme.example"
DEMO_PASSWORD = "acme-notes-demo"
SCHEMA = """
CREATE TABLE IF NOT EXISTS user (
    id INTEGER PRIMARY KEY,
    email TEXT UNIQUE NOT NULL,
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS access (
    external_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    answer TEXT NOT NULL,     -- the service's access object, as JSON
    source TEXT NOT NULL,     -- 'asked' (GET .../access), 'provisioned' (PUT) or 'notified'
    updated_at REAL NOT NULL  -- when this row was last confirmed: the cache's age
);
"""
# Keep an answer unless it is older than the one held. Notifications must be newer
# (an equal version is a redelivery); an asked answer may be equal (it confirms the row).
KEEP_IF_NEWER = """
INSERT INTO access (external_id, version, answer, source, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (external_id) DO UPDATE
SET version = excluded.version, answer = excluded.answer, source = excluded.source, updated_at = excluded.updated_at
WHERE excluded.version {} access.version
"""


@dataclass(frozen=True)
class Held:
    """The latest access answer the app holds for one user."""

    answer: dict
    version: int
    source: str
    updated_at: float

    @property
    def has_access(self) -> bool:
        return self.answer.get("has_access") is True


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"], timeout=10)
        g.db.row_factory = sqlite3.Row
    return g.db


def close_db(_error=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app) -> None:
    """Create the tables and the demo user (once), and close each request's connection."""
    with app.app_context():
        db = get_db()
        db.executescript(SCHEMA)
        if find_user(DEMO_EMAIL) is None:
            db.execute(
                "INSERT INTO user (email, password_hash) VALUES (?, ?)",
                (DEMO_EMAIL, generate_password_hash(DEMO_PASSWORD)),
            )
            db.commit()
        close_db()
    app.teardown_appcontext(close_db)


def find_user(email: str) -> sqlite3.Row | None:
    return get_db().execute("SELECT * FROM user WHERE email = ?", (email.strip().lower(),)).fetchone()


def user_by_id(user_id: int) -> sqlite3.Row | None:
    return get_db().execute("SELECT * FROM user WHERE id = ?", (user_id,)).fetchone()


def check_password(email: str, password: str) -> sqlite3.Row | None:
    user = find_user(email)
    return user if user is not None and check_password_hash(user["password_hash"], password) else None


def held_access(external_id: str) -> Held | None:
    row = get_db().execute("SELECT * FROM access WHERE external_id = ?", (external_id,)).fetchone()
    if row is None:
        return None
    return Held(json.loads(row["answer"]), row["version"], row["source"], row["updated_at"])


def keep_access(answer: dict, source: str) -> bool:
    """Hold ``answer`` for its user unless a newer one is held; whether it was kept."""
    comparison = ">" if source == "notified" else ">="
    db = get_db()
    cursor = db.execute(
        KEEP_IF_NEWER.format(comparison),
        (answer["external_id"], answer["version"], json.dumps(answer), source, time.time()),
    )
    db.commit()
    return cursor.rowcount == 1
