"""Service API keys and calls, for tests of /api/v1/."""

from __future__ import annotations

from shared.accounts import api_keys


def new_key(scope: str = api_keys.WRITE, name: str = "host app") -> str:
    return api_keys.create(name, scope)[1]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def put_customer(client, key: str, external_id: str, email: str):
    return client.put(f"/api/v1/customers/{external_id}", json={"email": email}, headers=bearer(key))


def get_access(client, key: str, external_id: str):
    return client.get(f"/api/v1/customers/{external_id}/access", headers=bearer(key))
