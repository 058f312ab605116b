"""schemathesis over the OpenAPI document, in process (WSGI, no server), as an admin and as a viewer: no
answer is a server error, and every answer is one the document describes (status, content type, body schema).

One test per operation and role; bounded for CI: the coverage cases and a few generated examples each
(``MAX_EXAMPLES``; for a viewer the valid ones only, see below), no shrinking, no example database, derandomized (the same examples every run: CI fails on a change, not on luck). A deeper run by
hand: ``BCRM_SCHEMATHESIS_EXAMPLES=50 pytest tests/test_schemathesis.py``."""

from __future__ import annotations

import json
import os
import zlib

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.core import NotSet
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from bcrm.accounts.services import token_create
from bcrm.api import api
from bcrm.wsgi import application
from tests.factories import make_org, make_team, make_user

MAX_EXAMPLES = int(os.environ.get("BCRM_SCHEMATHESIS_EXAMPLES", "3"))
# Checked: no server error; status codes, content types, headers and bodies as documented; auth not ignored.
# Not checked: that every request the schema allows is accepted (a country code "00" fits the schema's string but
# is no country: rules live in the services, and their 422 is documented), and that every request outside the
# schema is refused (pydantic's lax mode reads 0 as false and as 1970-01-01, by design).
EXCLUDED = [positive_data_acceptance, negative_data_rejection]

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = application


def _token(role: str):
    # As Django's test client does: the WSGI handler must not close the connection that holds the test's
    # transaction before or after each request (PostgreSQL would then answer "the connection is closed").
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    team = make_team("Schema Desk")
    make_org(legal_name="Schema Client", team=team)
    user = make_user(f"schema.{role}", role, team=team)
    yield token_create(user=user)[1]
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


# Parametrized (one value each), as schemathesis needs to give each operation its own test under pytest-xdist:
# a plain fixture there makes one test of all operations.
@pytest.fixture(params=["admin"])
def admin_token(request, db):
    yield from _token(request.param)


@pytest.fixture(params=["viewer"])
def viewer_token(request, db):
    yield from _token(request.param)


# Each operation gets schemathesis' coverage cases (boundary values; malformed values, missing and unexpected
# parameters: some forty requests an operation) and a few generated ones, for the admin: they pass every
# permission check, so their requests reach deepest, through validation into the services and the database. The
# viewer gets the valid ones only (positive mode): a malformed request is refused by the same validation for
# every role before any role-dependent code runs, and the admin's cases already cover it, while a valid one goes
# on into the viewer's own paths (a reader's scope, the refusals of writes) — half the requests (CI's budget).
SETTINGS = settings(database=None, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


# Two cuts of the admin's coverage cases, for CI's budget, that keep what they find:
# - Wrong types: schemathesis sends a value of each other JSON type (a boolean, a number, a string, an array, an
#   object…) for every parameter and every body property, 45 % of the admin's requests, and each one ends in the
#   same validation of the same field. A fixed two-in-five sample of them is sent (a hash of the request itself,
#   so the same ones every run, on every worker): each wrong type is still tried on hundreds of fields.
# - Methods a path does not have: three (DELETE, the one that must never act on a path without it; PUT; TRACE)
#   instead of every one, once per path: the router answers 405 for all of them alike.
WRONG_TYPES_SENT = 2  # of every 5
schema.config.phases.coverage.unexpected_methods = {"delete", "put", "trace"}


def _wire(case) -> str:
    """The request a case sends, as stable text (no object addresses)."""
    body = None if isinstance(case.body, NotSet) else case.body
    return json.dumps([case.method, case.path, case.path_parameters, case.query, body], sort_keys=True, default=repr)


@schema.hook
def filter_case(context, case) -> bool:
    data = case.meta.phase.data if case.meta is not None else None
    if isinstance(data, CoveragePhaseData) and data.scenario == CoverageScenario.INCORRECT_TYPE:
        return zlib.crc32(_wire(case).encode()) % 5 < WRONG_TYPES_SENT
    return True


viewer_schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
viewer_schema.app = application
viewer_schema.config.generation.update(modes=[GenerationMode.POSITIVE])


# Taking a backup dumps the whole database from a snapshot of its own: it needs committed data and no surrounding
# transaction, which a test that rolls back cannot give (tests/test_audit_coverage.py takes one for real).
@schema.exclude(method="POST", path="/api/v1/backups").parametrize()
@settings(SETTINGS, max_examples=MAX_EXAMPLES, phases=[Phase.explicit, Phase.generate])
def test_the_api_answers_the_admin_as_its_document_says(case, admin_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"}, excluded_checks=EXCLUDED)


@viewer_schema.exclude(method="POST", path="/api/v1/backups").parametrize()
@settings(SETTINGS, max_examples=MAX_EXAMPLES, phases=[Phase.explicit, Phase.generate])
def test_the_api_answers_a_viewer_as_its_document_says(case, viewer_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {viewer_token}"}, excluded_checks=EXCLUDED)
