"""How the tests walk through bcrm's doors, written once: the REST API with a bearer token, a page client
signed in as a user, a management command with its output captured.

Arrange helpers that make rows live in ``tests/factories.py``; the real-browser fixture in
``tests/browsing.py``."""

from __future__ import annotations

import io
import json
import sys

from django.core.management import call_command
from django.test import Client

from bcrm.accounts.services import token_create


def api_client(user=None, *, raw: str | None = None) -> Client:
    """A test client that sends ``Authorization: Bearer <token>`` on every request: a new API token of
    ``user``, or the raw token ``raw``; without either, no header (an anonymous caller)."""
    if user is not None and raw is None:
        _token, raw = token_create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}") if raw else Client()


class Api:
    """The REST API (``/api/v1``) as a client program uses it, signed with a token of ``user`` (or the
    raw token ``raw``; neither: anonymous).

    ``call`` and its short forms answer ``(status, body)``: the decoded JSON, ``None`` for an empty
    answer, or the response itself for anything else (a file, a stream). ``request`` answers the
    response."""

    def __init__(self, user=None, *, raw: str | None = None):
        self.client = api_client(user, raw=raw)

    def request(self, method: str, path: str, body=None, **extra):
        if body is not None:
            extra.update(data=json.dumps(body), content_type="application/json")
        return getattr(self.client, method)(f"/api/v1{path}", **extra)

    def call(self, method: str, path: str, body=None):
        response = self.request(method, path, body)
        if not response.streaming and not response.content:
            return response.status_code, None
        if response.get("Content-Type", "").startswith("application/json"):
            return response.status_code, response.json()
        return response.status_code, response

    def get(self, path: str):
        return self.call("get", path)

    def post(self, path: str, body=None):
        return self.call("post", path, body)

    def post_form(self, path: str, fields: dict):
        """A multipart POST (a file among form fields), as a browser's form or ``curl -F`` sends it."""
        response = self.client.post(f"/api/v1{path}", fields)
        return response.status_code, response.json()


def signed_in(user, client: Client | None = None) -> Client:
    """``client`` (a new one when not given) with ``user``'s session, as after signing in."""
    client = client if client is not None else Client()
    client.force_login(user)
    return client


def command(*args, stdin: str = "", **options) -> str:
    """Run a management command (``bcrm <args>``) in-process; returns what it wrote to stdout (stderr is
    kept apart and dropped). ``stdin`` is what the command reads from standard input."""
    out, old_stdin = io.StringIO(), sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    finally:
        sys.stdin = old_stdin
    return out.getvalue()


def off_site_references(html: str) -> list[str]:
    """The addresses a page would load from another origin: every ``src`` / ``href`` / ``action`` that
    is absolute (``http:``, ``https:``) or protocol-relative (``//host``). An offline page has none.
    Read with the standard HTML parser, so a random token that happens to contain "cdn" is no finding."""
    from html.parser import HTMLParser

    found: list[str] = []

    class _Refs(HTMLParser):
        def handle_starttag(self, tag, attrs):
            for name, value in attrs:
                if name in ("src", "href", "action") and value:
                    lowered = value.strip().lower()
                    if lowered.startswith(("http:", "https:", "//")):
                        found.append(value)

    parser = _Refs()
    parser.feed(html)
    parser.close()
    return found
