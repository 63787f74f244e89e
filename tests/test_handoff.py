"""Sign-in by hand-off: a token the host app signs (minted here with PyJWT, as the host app would)
signs its user in; every refusal is a 401 page that creates nothing and is counted; AUTH_MODES."""

from __future__ import annotations

import dataclasses
import time
import uuid

import jwt
import pytest
from peewee import AutoField, CharField, DateTimeField
from prometheus_client import REGISTRY

from portal_service import create_app
from shared.accounts import user_sessions
from shared.accounts.handoff import REQUIRED_CLAIMS
from shared.infra import migrations, models
from shared.infra.db import database
from shared.infra.errors import ConfigError
from shared.infra.models import User
from shared.infra.settings import Settings
from tests.auth_helpers import login, register
from tests.settings_helpers import make_settings

SECRET = "host-app-hand-off-secret-of-at-least-32-characters"
ROTATED = "the-next-hand-off-secret-after-rotation-32-characters"
PASSWORD = "correct horse battery"


def mint(secret: str = SECRET, algorithm: str = "HS256", drop: tuple[str, ...] = (), **claims) -> str:
    """What the host app does: a token for its signed-in user, valid two minutes."""
    now = int(time.time())
    payload = {
        "sub": "host-user-42",
        "email": "ada@example.com",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "aud": "portal-service",
    }
    payload.update(claims)
    for claim in drop:
        payload.pop(claim)
    return jwt.encode(payload, secret, algorithm=algorithm)


def outcome_count(outcome: str) -> float:
    return REGISTRY.get_sample_value("portal_handoff_total", {"outcome": outcome}) or 0.0


def sessions(redis_conn) -> int:
    return len(redis_conn.keys(user_sessions.SESSION_PREFIX + "*"))


@pytest.fixture
def settings(db_url, redis_url):
    return make_settings(db_url, redis_url, handoff_secrets=(SECRET, ROTATED))


def test_a_valid_token_creates_the_user_starts_a_session_and_redirects(client, redis_conn):
    before = outcome_count("signed_in")
    response = client.get("/auth/handoff?token=" + mint())
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard/billing"
    user = User.get(User.external_id == "host-user-42")
    assert user.email == "ada@example.com"
    assert user_sessions.user_of(redis_conn, _token_of(client)) == user.id
    assert client.get("/api/billing/status").status_code == 200
    assert outcome_count("signed_in") == before + 1


def _token_of(client) -> str:
    with client.session_transaction() as session:
        return session["_user_id"]


def test_next_claim_is_followed_when_it_is_a_local_path(client):
    response = client.get("/auth/handoff?token=" + mint(next="/dashboard/billing?from=portal"))
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard/billing?from=portal"


def test_a_second_hand_off_of_the_same_user_follows_a_changed_email_and_rotates_the_session(app, client):
    assert client.get("/auth/handoff?token=" + mint()).status_code == 303
    first = _token_of(client)
    assert client.get("/auth/handoff?token=" + mint(email="Ada.New@Example.com")).status_code == 303
    assert User.select().count() == 1
    assert User.get(User.external_id == "host-user-42").email == "ada.new@example.com"
    assert _token_of(client) != first
    old = app.test_client()
    old.set_cookie("session", client.get_cookie("session").value)
    assert old.get("/api/billing/status").status_code == 200  # the new cookie works, the old one ended:
    assert user_sessions.user_of(app.extensions["redis"], first) is None


def test_times_in_fractional_seconds_are_accepted(client, redis_conn):
    moment = time.time()
    assert client.get("/auth/handoff?token=" + mint(iat=moment, exp=moment + 60.5)).status_code == 303


def test_a_token_signed_with_the_second_secret_works(client):
    response = client.get("/auth/handoff?token=" + mint(secret=ROTATED))
    assert response.status_code == 303


def now() -> int:
    return int(time.time())


REFUSALS = [
    ("no token", "", "no_token", "has no token"),
    ("malformed", "not-a-jwt", "malformed", "is damaged"),
    ("exp as a string", lambda: mint(exp=str(now() + 60)), "malformed", "is damaged"),
    ("jti not a string", lambda: mint(jti=42), "malformed", "is damaged"),
    (
        "bad signature",
        lambda: mint(secret="a-secret-the-service-does-not-know-at-all"),
        "bad_signature",
        "not signed by",
    ),
    ("expired", lambda: mint(iat=now() - 400, exp=now() - 200), "expired", "has expired"),
    ("iat in the future", lambda: mint(iat=now() + 600, exp=now() + 700), "not_yet_valid", "not valid yet"),
    ("nbf in the future", lambda: mint(nbf=now() + 600), "not_yet_valid", "not valid yet"),
    ("wrong audience", lambda: mint(aud="another-service"), "wrong_audience", "made for another service"),
    ("alg none", lambda: mint(secret=None, algorithm="none"), "bad_algorithm", "not signed the way we accept"),
    ("alg HS512", lambda: mint(secret=SECRET * 2, algorithm="HS512"), "bad_algorithm", "not signed the way we accept"),
    ("exp too far after iat", lambda: mint(exp=now() + 301), "too_long", "made to last too long"),
    ("next to another host", lambda: mint(next="//evil.example/x"), "bad_next", "leads somewhere we do not go"),
    ("next with a scheme", lambda: mint(next="https://evil.example/"), "bad_next", "leads somewhere we do not go"),
    ("blank external id", lambda: mint(sub="  "), "bad_claim", "user id we cannot accept"),
    ("external id too long", lambda: mint(sub="x" * 256), "bad_claim", "user id we cannot accept"),
    ("control character in id", lambda: mint(sub="42\n43"), "bad_claim", "user id we cannot accept"),
    ("bad email", lambda: mint(email="not-an-email"), "bad_claim", "email address we cannot accept"),
] + [
    (f"no {claim}", lambda claim=claim: mint(drop=(claim,)), "missing_claim", "missing something")
    for claim in REQUIRED_CLAIMS
]


@pytest.mark.parametrize(("case", "token", "outcome", "words"), REFUSALS, ids=[case[0] for case in REFUSALS])
def test_each_refusal_is_a_401_page_that_creates_nothing_and_is_counted(
    client, redis_conn, case, token, outcome, words
):
    before = outcome_count(outcome)
    token = token() if callable(token) else token
    response = client.get(f"/auth/handoff?token={token}" if token else "/auth/handoff")
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "Could not sign you in" in page and words in page
    assert User.select().count() == 0
    assert sessions(redis_conn) == 0
    assert outcome_count(outcome) == before + 1


def test_a_replayed_token_is_refused(app, client, redis_conn):
    token = mint()
    assert client.get("/auth/handoff?token=" + token).status_code == 303
    before = outcome_count("replayed")
    again = app.test_client().get("/auth/handoff?token=" + token)
    assert again.status_code == 401 and "already been used" in again.get_data(as_text=True)
    assert sessions(redis_conn) == 1 and User.select().count() == 1
    assert outcome_count("replayed") == before + 1
    [key] = redis_conn.keys("portal:handoff-jti:*")
    assert 0 < redis_conn.ttl(key) <= 120 + 30  # kept until the token's expiry (and the leeway)


def test_an_email_held_by_another_local_user_is_refused_not_merged(app, client, redis_conn):
    register(app.test_client(), "ada@example.com", PASSWORD)
    before_sessions, before = sessions(redis_conn), outcome_count("email_taken")
    response = client.get("/auth/handoff?token=" + mint())
    assert response.status_code == 401
    assert "already used by another account" in response.get_data(as_text=True)
    assert User.select().count() == 1 and User.get().external_id is None
    assert sessions(redis_conn) == before_sessions
    assert outcome_count("email_taken") == before + 1


def test_a_hand_off_user_has_no_local_password(app, client):
    assert client.get("/auth/handoff?token=" + mint()).status_code == 303
    assert login(app.test_client(), "ada@example.com", "").status_code == 401


def test_the_metric_is_in_the_scrape(client):
    client.get("/auth/handoff")
    scrape = client.get("/metrics").get_data(as_text=True)
    assert 'portal_handoff_total{outcome="no_token"}' in scrape
    assert 'portal_handoff_total{outcome="replayed"}' in scrape  # every label from the start


def test_without_a_secret_hand_off_answers_404(db_url, db, redis_url, redis_conn):
    app = create_app(make_settings(db_url, redis_url))
    response = app.test_client().get("/auth/handoff?token=" + mint())
    assert response.status_code == 404 and User.select().count() == 0


def test_with_local_sign_in_alone_hand_off_answers_404(settings, db, redis_conn):
    app = create_app(dataclasses.replace(settings, auth_modes=("local",)))
    assert app.test_client().get("/auth/handoff?token=" + mint()).status_code == 404


def test_with_hand_off_alone_the_local_forms_answer_404(settings, db, redis_conn):
    app = create_app(dataclasses.replace(settings, auth_modes=("handoff",)))
    client = app.test_client()
    for path in ("/register", "/login"):
        assert client.get(path).status_code == 404
        assert client.post(path, data={"email": "a@example.com", "password": PASSWORD}).status_code == 404
    page = client.get("/dashboard/billing", headers={"Accept": "text/html"})
    assert page.status_code == 401 and "sign in through the app" in page.get_data(as_text=True).lower()
    assert client.get("/auth/handoff?token=" + mint()).status_code == 303
    assert client.get("/dashboard/billing").status_code == 200


def test_with_redis_down_hand_off_answers_503_and_creates_nothing(db_url, db, private_redis):
    settings = make_settings(db_url, private_redis.url, redis_timeout_seconds=0.3, handoff_secrets=(SECRET,))
    client = create_app(settings).test_client()
    private_redis.stop()
    before = outcome_count("redis_unavailable")
    response = client.get("/auth/handoff?token=" + mint())
    assert response.status_code == 503
    assert User.select().count() == 0
    assert outcome_count("redis_unavailable") == before + 1


class UserBeforeMigration3(models.BaseModel):
    """The user table as migrations 1 and 2 left it."""

    id = AutoField()
    email = CharField(unique=True, max_length=254)
    password_hash = CharField(max_length=255)
    stripe_customer_id = CharField(null=True, unique=True, max_length=255)
    created_at = DateTimeField()

    class Meta:
        table_name = "user"


def test_later_migrations_add_their_columns_and_tables_to_a_database_with_users(db_url):
    from shared.infra.db import init_database

    init_database(db_url)
    with database.connection_context():
        old = [UserBeforeMigration3, models.Subscription, models.StripeEvent, models.Setting, models.SchemaMigration]
        database.create_tables(old)
        for version, name, _ in migrations.MIGRATIONS[:2]:
            models.SchemaMigration.create(version=version, name=name)
        UserBeforeMigration3.create(email="old@example.com", password_hash="x", created_at="2026-01-01 00:00:00")
        assert [version for version, _ in migrations.upgrade()] == list(range(3, migrations.LATEST_VERSION + 1))
        assert migrations.upgrade() == []
        for _, _, step in migrations.MIGRATIONS[2:]:  # the steps themselves are harmless run again
            step()
        old = User.get(User.email == "old@example.com")
        assert (old.external_id, old.access_version) == (None, 1)
        assert models.ApiKey.select().count() == 0
        User.create(email="new@example.com", password_hash="", external_id="e1")
        with pytest.raises(Exception, match=r"(?i)unique"), database.atomic():
            User.create(email="other@example.com", password_hash="", external_id="e1")


ENV = {"SECRET_KEY": "x" * 40, "REDIS_URL": "redis://127.0.0.1:1/0", "STRIPE_SECRET_KEY": "sk_test_x"}
ENV["STRIPE_WEBHOOK_SECRET"] = "whsec_x"


def test_auth_modes_default_and_refusals():
    assert Settings.from_env(ENV).sign_in_modes == ("local", "handoff")
    assert Settings.from_env({**ENV, "AUTH_MODES": "local"}).sign_in_modes == ("local",)
    both = Settings.from_env({**ENV, "AUTH_MODES": "handoff, local", "HANDOFF_SECRET": f"{SECRET},{ROTATED}"})
    assert both.handoff_secrets == (SECRET, ROTATED)
    for value in ("local,sso", ","):
        with pytest.raises(ConfigError, match="AUTH_MODES"):
            Settings.from_env({**ENV, "AUTH_MODES": value})
    with pytest.raises(ConfigError, match="HANDOFF_SECRET is not set"):
        Settings.from_env({**ENV, "AUTH_MODES": "handoff"})
    with pytest.raises(ConfigError, match="HANDOFF_SECRET"):
        Settings.from_env({**ENV, "AUTH_MODES": "handoff", "HANDOFF_SECRET": "short"})
    assert Settings.from_env({**ENV, "AUTH_MODES": "handoff", "APP_ENV": "development"})
