"""A PostgreSQL schema of one's own, so parallel runs on one server never collide."""

from __future__ import annotations

import os
import uuid


def postgres_schema_url(base_url: str, prefix: str = "t") -> tuple[str, str]:
    """A URL whose connections use a fresh schema, and the schema's name."""
    import psycopg2

    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg2.connect(base_url) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options=-csearch_path%3D{schema}", schema


def drop_postgres_schema(base_url: str, schema: str) -> None:
    import psycopg2

    conn = psycopg2.connect(base_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    conn.close()
