"""The billing pages against the offline sandbox: a signed-in browser-like client, paying on the hosted page."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request

from tests.auth_helpers import CSRF_FIELD, register

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def page_token(client, path: str = "/dashboard/billing") -> str:
    return CSRF_FIELD.search(client.get(path, headers=HTML).get_data(as_text=True)).group(1)


def signed_in(app, email: str):
    client = app.test_client()
    assert register(client, email).status_code == 302
    return client


def post_json(client, path: str, body: dict | None = None, token: str | None = None, **headers):
    token = token if token is not None else page_token(client)
    if token:
        headers["X-CSRFToken"] = token
    return client.post(path, json=body or {}, headers=headers)


def post_form(client, path: str, data: dict | None = None, token: str | None = None, **headers):
    token = token if token is not None else page_token(client)
    form = dict(data or {})
    if token:
        form["csrf_token"] = token
    return client.post(path, data=form, headers={**HTML, **headers})


def pay_on_hosted_page(checkout_url: str, action: str = "pay") -> str:
    """Press the hosted page's pay button; returns where the sandbox sends the browser."""
    body = urllib.parse.urlencode({"action": action, "card": "4242 4242 4242 4242"}).encode()
    request = urllib.request.Request(checkout_url, data=body, method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(request, timeout=10)
    except urllib.error.HTTPError as exc:
        if exc.code == 303:
            return exc.headers["Location"]
        raise
    raise AssertionError("the hosted checkout did not redirect")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def local_path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def text_of(response) -> str:
    """The page's words, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
