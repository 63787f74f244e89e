"""Signing in through the real forms, CSRF token included."""

from __future__ import annotations

import re

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return CSRF_FIELD.search(page).group(1)


def register(client, email="user@example.com", password="correct horse battery"):
    token = csrf_token(client, "/register")
    return client.post("/register", data={"email": email, "password": password, "csrf_token": token})


def login(client, email="user@example.com", password="correct horse battery", next_url=None):
    token = csrf_token(client, "/login")
    query = f"?next={next_url}" if next_url is not None else ""
    return client.post(f"/login{query}", data={"email": email, "password": password, "csrf_token": token})
