"""Sessions that end: logout and `user sign-out` revoke a session server-side, and a copy
of its cookie is refused afterwards; while Redis is down, signed-in pages answer 503."""

from __future__ import annotations

import pytest

from portal_service import create_app
from shared.accounts import user_sessions
from shared.infra.models import User
from tests.auth_helpers import csrf_token, login, register
from tests.settings_helpers import make_settings

PASSWORD = "correct horse battery"
HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def replay(app, cookie: str):
    """A new browser holding a copy of ``cookie``."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def assert_signed_out(client):
    page = client.get("/dashboard/billing", headers=HTML)
    assert page.status_code == 302 and page.headers["Location"] == "/login?next=/dashboard/billing"
    api = client.get("/api/billing/status", headers=JSON)
    assert api.status_code == 401 and api.get_json() == {"error": "Login required"}


def test_a_cookie_captured_before_logout_is_refused_after_it(app, signed_in_client):
    client = signed_in_client
    captured = cookie_of(client)
    assert replay(app, captured).get("/api/billing/status").status_code == 200  # a live copy works...
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard/billing")})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert_signed_out(replay(app, captured))  # ...and ends with the session
    assert_signed_out(client)


def test_each_sign_in_gets_a_new_session_and_ends_the_one_it_replaces(app, signed_in_client):
    client = signed_in_client
    first = cookie_of(client)
    assert login(client).status_code == 302
    assert cookie_of(client) != first
    assert client.get("/api/billing/status").status_code == 200
    assert_signed_out(replay(app, first))


def test_ending_all_sessions_of_a_user_signs_out_every_browser_and_no_one_else(app, redis_conn):
    laptop, phone, other = app.test_client(), app.test_client(), app.test_client()
    register(laptop, "me@example.com", PASSWORD)
    assert login(phone, "me@example.com", PASSWORD).status_code == 302
    register(other, "other@example.com", PASSWORD)
    me = User.get(User.email == "me@example.com")
    assert user_sessions.end_all(redis_conn, me.id) == 2
    assert_signed_out(laptop)
    assert_signed_out(phone)
    assert other.get("/api/billing/status").status_code == 200
    assert user_sessions.end_all(redis_conn, me.id) == 0


def test_user_sign_out_command_ends_every_session_of_the_account(runner, signed_in_client):
    result = runner.invoke(args=["user", "sign-out", "USER@example.com"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "ended 1 session(s) of user@example.com" in result.stdout
    assert_signed_out(signed_in_client)
    unknown = runner.invoke(args=["user", "sign-out", "nobody@example.com"])
    assert unknown.exit_code == 1 and "no user with email 'nobody@example.com'" in unknown.output


def test_sessions_are_kept_hashed_with_a_lifetime(signed_in_client, redis_conn):
    client = signed_in_client
    [key] = redis_conn.keys(user_sessions.SESSION_PREFIX + "*")
    with client.session_transaction() as session:
        token = session["_user_id"]
    assert token.encode() not in key  # Redis alone never yields a usable cookie value
    assert 0 < redis_conn.ttl(key) <= user_sessions.LIFETIME_SECONDS


@pytest.mark.parametrize("stored", [b"not a user id", b"\xff\xfe", b"9" * 40, b"-1"])
def test_a_session_record_that_is_not_a_user_id_signs_nobody_in(signed_in_client, redis_conn, stored):
    """Whoever can write to Redis may have put anything under a session's key: signed out, no 500."""
    [key] = redis_conn.keys(user_sessions.SESSION_PREFIX + "*")
    redis_conn.set(key, stored)
    assert_signed_out(signed_in_client)
    response = signed_in_client.post("/logout", data={"csrf_token": "x"})
    assert response.status_code < 500


def test_anonymous_visitors_store_nothing_in_redis(app, redis_conn):
    client = app.test_client()
    for path in ("/login", "/register", "/dashboard/billing"):
        client.get(path)
    csrf_token(client, "/login")
    assert redis_conn.keys(user_sessions.SESSION_PREFIX + "*") == []


def test_with_redis_down_signed_in_pages_answer_a_clear_503(db_url, db, private_redis):
    app = create_app(make_settings(db_url, private_redis.url, redis_timeout_seconds=0.3))
    client = app.test_client()
    register(client, "me@example.com", PASSWORD)
    private_redis.stop()
    page = client.get("/dashboard/billing", headers=HTML)
    assert page.status_code == 503
    assert "Signing in is unavailable for a moment" in page.get_data(as_text=True)
    api = client.get("/api/billing/status", headers=JSON)
    assert api.status_code == 503
    assert api.get_json() == {"error": "Signing in is unavailable for a moment. Please try again in a minute."}
    signing_in = app.test_client()
    token = csrf_token(signing_in, "/login")  # an anonymous page needs no Redis
    response = signing_in.post("/login", data={"email": "me@example.com", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 503
    assert User.select().count() == 1
    private_redis.start()  # empty again: the session record went with it, so sign in anew
    assert_signed_out(client)
    assert login(client, "me@example.com", PASSWORD).status_code == 302
    assert client.get("/api/billing/status").status_code == 200
