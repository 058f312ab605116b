"""The permission matrix: every API operation of the OpenAPI document and every named page of the web UI, with
what each role gets. A new endpoint or page without an entry fails the test: add it to the table with the
answers its roles must get.

Each cell is checked by one request: GET for reads and pages; for writes a request with an empty JSON body (a
missing id in the path: 999999), so the cell is 403 where the role may not, 401 for the anonymous caller, and
otherwise what the door answers an allowed role for that request (422 for a body it refuses, 404 for a missing
row, 2xx where an empty body is enough). The API checks a body's shape before the service checks the role, so a
write whose body needs fields answers 422 to every signed-in role here: its role rules are held by the services'
own tests (tests/test_security_*.py, the doors' tests); this table pins that no role gets past that point. Pages: 200, 403, 404 for a missing row, 405 for a form that only takes
POST, "login" for a redirect to the sign-in page. Roles are signed in without a second factor (two-factor sign-in
has its own tests).

Regenerate the observed table after a deliberate change with ``BCRM_MATRIX_PRINT=1`` (it prints it) and review
every changed cell before pasting it."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse

from bcrm.api import api
from tests.doors import api_client, signed_in
from tests.factories import make_org, make_team, make_user

ROLES = ("admin", "lead", "relationship_manager", "analyst", "compliance", "viewer", "anonymous")
MISSING = "999999"
SAMPLES = {"dimension": "value", "version": "1", "code": "standard", "entity": "organizations", "run_id": MISSING}

# One row per API operation: what admin, lead, relationship manager, analyst, compliance, viewer, anonymous get.
API = {
    "GET /api/v1/me": "200 200 200 200 200 200 401",
    "GET /api/v1/tokens": "200 200 200 200 200 200 401",
    "POST /api/v1/tokens": "201 201 201 201 201 201 401",
    "DELETE /api/v1/tokens/{pk}": "404 404 404 404 404 404 401",
    "GET /api/v1/organizations": "200 200 200 200 200 200 401",
    "POST /api/v1/organizations": "422 422 422 422 422 422 401",
    "POST /api/v1/organizations/bulk": "422 422 422 422 422 422 401",
    "GET /api/v1/organizations/{pk}": "404 404 404 404 404 404 401",
    "PATCH /api/v1/organizations/{pk}": "422 422 422 422 422 422 401",
    "DELETE /api/v1/organizations/{pk}": "404 404 404 404 404 404 401",
    "GET /api/v1/organizations/{pk}/contacts": "404 404 404 404 404 404 401",
    "POST /api/v1/organizations/{pk}/contacts": "422 422 422 422 422 422 401",
    "GET /api/v1/contacts/{pk}": "404 404 404 404 404 404 401",
    "PATCH /api/v1/contacts/{pk}": "422 422 422 422 422 422 401",
    "DELETE /api/v1/contacts/{pk}": "404 404 404 404 404 404 401",
    "GET /api/v1/projects": "200 200 200 200 200 200 401",
    "POST /api/v1/projects": "422 422 422 422 422 422 401",
    "GET /api/v1/projects/{pk}": "404 404 404 404 404 404 401",
    "PATCH /api/v1/projects/{pk}": "422 422 422 422 422 422 401",
    "DELETE /api/v1/projects/{pk}": "404 404 404 404 404 404 401",
    "GET /api/v1/participations": "200 200 200 200 200 200 401",
    "POST /api/v1/participations": "422 422 422 422 422 422 401",
    "GET /api/v1/participations/{pk}": "404 404 404 404 404 404 401",
    "PATCH /api/v1/participations/{pk}": "422 422 422 422 422 422 401",
    "DELETE /api/v1/participations/{pk}": "404 404 404 404 404 404 401",
    "GET /api/v1/interactions": "200 200 200 200 200 200 401",
    "POST /api/v1/interactions": "422 422 422 422 422 422 401",
    "GET /api/v1/interactions/{pk}": "404 404 404 404 404 404 401",
    "PATCH /api/v1/interactions/{pk}": "422 422 422 422 422 422 401",
    "DELETE /api/v1/interactions/{pk}": "404 404 404 404 404 404 401",
    "GET /api/v1/service-requests": "200 200 200 200 200 200 401",
    "POST /api/v1/service-requests": "422 422 422 422 422 422 401",
    "GET /api/v1/service-requests/{pk}": "404 404 404 404 404 404 401",
    "PATCH /api/v1/service-requests/{pk}": "422 422 422 422 422 422 401",
    "DELETE /api/v1/service-requests/{pk}": "404 404 404 404 404 404 401",
    "GET /api/v1/tasks": "200 200 200 200 200 200 401",
    "POST /api/v1/tasks": "422 422 422 422 422 422 401",
    "GET /api/v1/tasks/{pk}": "404 404 404 404 404 404 401",
    "PATCH /api/v1/tasks/{pk}": "422 422 422 422 422 422 401",
    "DELETE /api/v1/tasks/{pk}": "404 404 404 404 404 404 401",
    "GET /api/v1/segmentation/features": "200 200 200 200 200 200 401",
    "GET /api/v1/segmentation/criteria": "200 200 403 200 200 200 401",
    "POST /api/v1/segmentation/criteria": "422 422 422 422 422 422 401",
    "GET /api/v1/segmentation/criteria/{dimension}": "200 200 403 200 200 200 401",
    "GET /api/v1/segmentation/criteria/{dimension}/{version}": "200 200 403 200 200 200 401",
    "POST /api/v1/segmentation/runs": "422 422 422 422 422 422 401",
    "GET /api/v1/segmentation/runs": "200 200 403 200 200 200 401",
    "GET /api/v1/segmentation/clv-models": "200 200 403 200 200 200 401",
    "GET /api/v1/segmentation/runs/compare": "422 422 422 422 422 422 401",
    "GET /api/v1/segmentation/runs/compare/clients": "422 422 422 422 422 422 401",
    "GET /api/v1/segmentation/runs/{run_id}": "404 404 403 404 404 404 401",
    "GET /api/v1/segmentation/runs/{run_id}/assignments": "404 404 403 404 404 404 401",
    "GET /api/v1/organizations/{org_id}/labels": "404 404 404 404 404 404 401",
    "GET /api/v1/segmentation/overrides": "422 422 422 422 422 422 401",
    "POST /api/v1/segmentation/overrides": "422 422 422 422 422 422 401",
    "POST /api/v1/segmentation/overrides/{override_id}/expire": "404 404 404 404 404 404 401",
    "GET /api/v1/segmentation/expert-scorecard": "200 200 403 200 200 200 401",
    "POST /api/v1/segmentation/expert-scorecard": "422 422 422 422 422 422 401",
    "GET /api/v1/data-quality": "200 200 200 200 200 200 401",
    "GET /api/v1/data-quality/clients": "200 200 200 200 200 200 401",
    "GET /api/v1/data-quality/organizations/{org_id}": "404 404 404 404 404 404 401",
    "GET /api/v1/data-quality/export": "200 200 200 200 200 200 401",
    "GET /api/v1/organizations/{pk}/models": "404 404 404 404 404 404 401",
    "POST /api/v1/imports": "422 422 422 422 422 422 401",
    "GET /api/v1/imports": "200 200 200 200 200 200 401",
    "GET /api/v1/imports/{pk}": "404 404 404 404 404 404 401",
    "DELETE /api/v1/imports/{pk}": "404 404 404 404 404 404 401",
    "GET /api/v1/imports/{pk}/rows": "404 404 404 404 404 404 401",
    "GET /api/v1/imports/{pk}/errors": "404 404 404 404 404 404 401",
    "POST /api/v1/imports/{pk}/rerun": "422 422 422 422 422 422 401",
    "GET /api/v1/exports/{entity}": "200 200 200 200 200 200 401",
    "GET /api/v1/mappings": "200 200 200 200 200 200 401",
    "POST /api/v1/mappings": "422 422 422 422 422 422 401",
    "PATCH /api/v1/mappings/{pk}": "422 422 422 422 422 422 401",
    "DELETE /api/v1/mappings/{pk}": "404 404 404 404 404 404 401",
    "POST /api/v1/surveys/invitations": "422 422 422 422 422 422 401",
    "GET /api/v1/surveys/invitations": "200 200 200 200 200 200 401",
    "GET /api/v1/surveys/summary": "200 200 200 200 200 200 401",
    "GET /api/v1/duplicates": "200 200 200 200 200 200 401",
    "POST /api/v1/duplicates/merge": "422 422 422 422 422 422 401",
    "POST /api/v1/duplicates/dismiss": "422 422 422 422 422 422 401",
    "POST /api/v1/duplicates/scan": "202 202 403 403 403 403 401",
    "POST /api/v1/analyse/split": "422 422 422 422 422 422 401",
    "POST /api/v1/analyse/clv": "422 422 422 422 422 422 401",
    "POST /api/v1/analyse/scorecard": "422 422 422 422 422 422 401",
    "POST /api/v1/analyse/bgbb": "422 422 422 422 422 422 401",
    "GET /api/v1/tier-policy": "200 200 200 200 200 200 401",
    "POST /api/v1/tier-policy": "422 422 422 422 422 422 401",
    "GET /api/v1/tier-policy/versions": "200 200 200 200 200 200 401",
    "GET /api/v1/playbooks": "200 200 200 200 200 200 401",
    "GET /api/v1/playbooks/{code}": "200 200 200 200 200 200 401",
    "PATCH /api/v1/playbooks/{code}": "422 422 422 422 422 422 401",
    "POST /api/v1/playbooks/{code}/steps": "422 422 422 422 422 422 401",
    "PATCH /api/v1/playbook-steps/{step_id}": "422 422 422 422 422 422 401",
    "DELETE /api/v1/playbook-steps/{step_id}": "404 404 404 404 404 404 401",
    "GET /api/v1/tasks/mine": "200 200 200 200 200 200 401",
    "GET /api/v1/tasks/team": "200 200 200 200 200 200 401",
    "GET /api/v1/tasks/overdue": "200 200 200 200 200 200 401",
    "POST /api/v1/tasks/{task_id}/complete": "404 404 404 404 404 404 401",
    "POST /api/v1/tasks/{task_id}/assign": "422 422 422 422 422 422 401",
    "POST /api/v1/tasks/bulk": "422 422 422 422 422 422 401",
    "GET /api/v1/automation/runs": "200 200 200 200 200 200 401",
    "POST /api/v1/automation/runs": "201 201 403 403 403 403 401",
    "GET /api/v1/automation/runs/{run_id}": "404 404 404 404 404 404 401",
    "GET /api/v1/resource-plan": "200 200 200 200 403 200 401",
    "GET /api/v1/projects/{pk}/progress-report": "404 404 404 404 404 404 401",
    "POST /api/v1/projects/{pk}/progress-report/send": "422 422 422 422 422 422 401",
    "GET /api/v1/report-deliveries": "200 200 200 200 200 200 401",
    "GET /api/v1/projects/{pk}/milestones": "404 404 404 404 404 404 401",
    "POST /api/v1/projects/{pk}/milestones": "422 422 422 422 422 422 401",
    "PATCH /api/v1/milestones/{pk}": "404 404 404 404 404 404 401",
    "DELETE /api/v1/milestones/{pk}": "404 404 404 404 404 404 401",
    "GET /api/v1/projects/{pk}/updates": "404 404 404 404 404 404 401",
    "POST /api/v1/projects/{pk}/updates": "422 422 422 422 422 422 401",
    "GET /api/v1/kpis": "200 200 403 200 200 200 401",
    "POST /api/v1/kpis/snapshots": "422 422 422 422 422 422 401",
    "GET /api/v1/kpis/lorenz": "404 404 403 404 404 404 401",
    "GET /api/v1/kpis.xlsx": "200 200 403 200 200 200 401",
    "GET /api/v1/effect": "200 200 403 200 200 200 401",
    "GET /api/v1/kpis/management-report": "404 404 403 404 404 404 401",
    "POST /api/v1/kpis/management-report/send": "422 422 422 422 422 422 401",
    "GET /api/v1/search": "422 422 422 422 422 422 401",
    "PUT /api/v1/projects/{pk}/wall": "422 422 422 422 422 422 401",
    "GET /api/v1/projects/{pk}/wall/members": "404 404 404 404 404 404 401",
    "POST /api/v1/projects/{pk}/wall/members": "422 422 422 422 422 422 401",
    "DELETE /api/v1/projects/{pk}/wall/members/{member_id}": "404 404 404 404 404 404 401",
    "GET /api/v1/walls": "403 403 403 403 200 403 401",
    "GET /api/v1/plans": "200 200 200 200 200 200 401",
    "POST /api/v1/plans": "422 422 422 422 422 422 401",
    "GET /api/v1/plans/{pk}": "404 404 404 404 404 404 401",
    "POST /api/v1/plans/{pk}/versions": "422 422 422 422 422 422 401",
    "POST /api/v1/plans/{pk}/transition": "422 422 422 422 422 422 401",
    "GET /api/v1/plans/{pk}/compare": "422 422 422 422 422 422 401",
    "GET /api/v1/plans/{pk}/proposal": "404 404 404 404 404 404 401",
    "POST /api/v1/plans/{pk}/send": "404 404 404 404 404 404 401",
    "POST /api/v1/plan-templates": "422 422 422 422 422 422 401",
    "POST /api/v1/plan-templates/{pk}/apply": "404 404 404 404 404 404 401",
    "GET /api/v1/projects/{pk}/closing": "404 404 404 404 404 404 401",
    "POST /api/v1/projects/{pk}/closing": "404 404 404 404 404 404 401",
    "POST /api/v1/closing-items/{pk}/status": "422 422 422 422 422 422 401",
    "PATCH /api/v1/closing-items/{pk}": "404 404 404 404 404 404 401",
    "POST /api/v1/closing-items/{pk}/evidence": "422 422 422 422 422 422 401",
    "POST /api/v1/projects/{pk}/closing/sign-off": "404 404 404 404 404 404 401",
    "GET /api/v1/projects/{pk}/book": "404 404 404 404 404 404 401",
    "POST /api/v1/projects/{pk}/books": "422 422 422 422 422 422 401",
    "PATCH /api/v1/books/{pk}": "422 422 422 422 422 422 401",
    "POST /api/v1/projects/{pk}/book/allocate": "422 422 422 422 422 422 401",
    "GET /api/v1/calendar-feed": "200 200 200 200 200 200 401",
    "POST /api/v1/calendar-feed": "201 201 201 201 201 201 401",
    "DELETE /api/v1/calendar-feed": "204 204 204 204 204 204 401",
    "GET /api/v1/contacts/vcard": "200 200 200 200 200 200 401",
    "POST /api/v1/contacts/vcard": "422 422 422 422 422 422 401",
    "GET /api/v1/webhooks": "200 403 403 403 403 403 401",
    "POST /api/v1/webhooks": "422 422 422 422 422 422 401",
    "PATCH /api/v1/webhooks/{pk}": "422 422 422 422 422 422 401",
    "DELETE /api/v1/webhooks/{pk}": "404 403 403 403 403 403 401",
    "GET /api/v1/webhooks/{pk}/deliveries": "404 403 403 403 403 403 401",
    "GET /api/v1/privacy/contacts/{pk}/export": "404 403 403 403 404 403 401",
    "POST /api/v1/privacy/contacts/{pk}/erase": "422 422 422 422 422 422 401",
    "POST /api/v1/privacy/contacts/{pk}/holds": "422 422 422 422 422 422 401",
    "GET /api/v1/privacy/purposes": "200 403 403 403 200 403 401",
    "POST /api/v1/privacy/purposes": "422 422 422 422 422 422 401",
    "POST /api/v1/privacy/purposes/{code}/active": "422 422 422 422 422 422 401",
    "GET /api/v1/intel/accounts": "200 200 200 200 200 200 401",
    "POST /api/v1/intel/accounts": "422 422 422 422 422 422 401",
    "PATCH /api/v1/intel/accounts/{account_id}": "404 404 404 404 404 404 401",
    "DELETE /api/v1/intel/accounts/{account_id}": "404 404 404 404 404 404 401",
    "POST /api/v1/intel/accounts/{account_id}/sync": "404 404 404 404 404 404 401",
    "GET /api/v1/intel/exclusions": "200 200 200 200 200 200 401",
    "POST /api/v1/intel/exclusions": "422 422 422 422 422 422 401",
    "DELETE /api/v1/intel/exclusions/{value}": "204 204 204 204 204 204 401",
    "GET /api/v1/intel/suggestions": "200 200 200 200 200 200 401",
    "POST /api/v1/intel/suggestions/{candidate_id}/accept": "404 404 404 404 404 404 401",
    "POST /api/v1/intel/suggestions/{candidate_id}/reject": "404 404 404 404 404 404 401",
    "GET /api/v1/intel/contacts/{contact_id}/strength": "404 404 404 404 404 404 401",
    "GET /api/v1/intel/organizations/{organization_id}/strength": "404 404 404 404 404 404 401",
    "GET /api/v1/intel/organizations/{organization_id}/paths": "404 404 404 404 404 404 401",
    "PUT /api/v1/intel/organizations/{organization_id}/domains": "422 422 422 422 422 422 401",
    "GET /api/v1/intel/interactions/{interaction_id}/messages": "404 404 404 404 404 404 401",
    "POST /api/v1/intel/items/{item_id}/keep": "404 404 404 404 404 404 401",
    "GET /api/v1/intel/items/{item_id}/kept": "404 404 404 404 404 404 401",
    "DELETE /api/v1/intel/items/{item_id}/kept": "404 404 404 404 404 404 401",
    "GET /api/v1/audit/status": "200 403 403 403 200 403 401",
    "POST /api/v1/audit/verify": "200 403 403 403 200 403 401",
    "GET /api/v1/audit/entries": "200 403 403 403 200 403 401",
    "GET /api/v1/backups": "200 403 403 403 200 403 401",
    "POST /api/v1/backups": "409 403 403 403 403 403 401",
}

# One row per named page: the same roles, same order.
PAGES = {
    "home": "302 302 302 302 302 302 login",
    "search": "200 200 200 200 200 200 login",
    "client_detail": "404 404 404 404 404 404 login",
    "login": "302 302 302 302 302 302 200",
    "logout": "405 405 405 405 405 405 405",
    "two_factor_verify": "302 302 302 302 302 302 login",
    "two_factor": "200 200 200 200 200 200 login",
    "parties:organization_list": "200 200 200 200 200 200 login",
    "parties:organization_bulk": "405 405 405 405 405 405 login",
    "parties:picker": "400 400 400 400 400 400 login",
    "parties:saved_view_create": "405 405 405 405 405 405 login",
    "parties:saved_view_delete": "405 405 405 405 405 405 login",
    "parties:organization_create": "200 200 200 403 403 403 login",
    "parties:organization_edit": "404 404 404 404 404 404 login",
    "parties:contact_create": "404 404 404 404 404 404 login",
    "parties:contact_edit": "404 404 404 404 404 404 login",
    "financing:project_list": "200 200 200 200 200 200 login",
    "financing:project_create": "200 200 200 403 403 403 login",
    "financing:project_detail": "404 404 404 404 404 404 login",
    "financing:project_edit": "404 404 404 404 404 404 login",
    "financing:participation_create_for_project": "404 404 404 404 404 404 login",
    "financing:participation_create_for_organization": "404 404 404 404 404 404 login",
    "financing:participation_edit": "404 404 404 404 404 404 login",
    "engagement:interaction_create": "404 404 404 404 404 404 login",
    "engagement:interaction_edit": "404 404 404 404 404 404 login",
    "engagement:service_request_list": "200 200 200 200 200 200 login",
    "engagement:service_request_create": "404 404 404 404 404 404 login",
    "engagement:service_request_edit": "404 404 404 404 404 404 login",
    "engagement:task_list": "200 200 200 200 200 200 login",
    "engagement:task_create": "200 200 200 403 403 403 login",
    "engagement:task_bulk": "405 405 405 405 405 405 login",
    "engagement:task_create_for_organization": "404 404 404 404 404 404 login",
    "engagement:task_edit": "404 404 404 404 404 404 login",
    "engagement:task_done": "405 405 405 405 405 405 login",
    "segmentation:index": "302 302 403 302 302 302 login",
    "segmentation:run_detail": "404 404 403 404 404 404 login",
    "segmentation:override_end": "405 405 405 405 405 405 login",
    "segmentation:override_create": "404 404 404 404 404 404 login",
    "segmentation:scorecard": "200 200 403 200 200 200 login",
    "segmentation:overview": "200 200 403 200 200 200 login",
    "segmentation:run_now": "405 405 405 405 405 405 login",
    "segmentation:criterion": "200 200 403 200 200 200 login",
    "segmentation:runs": "200 200 403 200 200 200 login",
    "segmentation:compare": "200 200 403 200 200 200 login",
    "segmentation:overrides": "200 200 403 200 200 200 login",
    "quality:page": "200 200 200 200 200 200 login",
    "quality:export": "200 200 200 200 200 200 login",
    "dataio:home": "200 200 200 200 200 200 login",
    "dataio:job_detail": "404 404 404 404 404 404 login",
    "dataio:job_rerun": "405 405 405 405 405 405 login",
    "dataio:job_delete": "405 405 405 405 405 405 login",
    "dataio:job_errors": "404 404 404 404 404 404 login",
    "dataio:job_save_mapping": "405 405 405 405 405 405 login",
    "dataio:mapping_list": "200 200 200 200 200 200 login",
    "dataio:mapping_delete": "405 405 405 405 405 405 login",
    "dataio:export": "200 200 200 200 200 200 login",
    "surveys:thanks": "200 200 200 200 200 200 200",
    "surveys:answer": "404 404 404 404 404 404 404",
    "surveys:invitation_list": "200 200 200 200 200 200 login",
    "surveys:send": "422 422 422 403 403 403 login",
    "surveys:resend": "405 405 405 405 405 405 login",
    "dedupe:candidate_list": "200 200 200 200 200 200 login",
    "dedupe:merge": "422 422 422 422 422 422 login",
    "dedupe:dismiss": "405 405 405 405 405 405 login",
    "dedupe:scan": "405 405 405 405 405 405 login",
    "analysis:analyse": "200 200 200 200 200 200 login",
    "playbooks:my_day": "200 200 200 200 200 200 login",
    "playbooks:task_complete": "404 404 404 404 404 404 login",
    "playbooks:team_board": "200 200 200 200 200 200 login",
    "playbooks:task_assign": "405 405 405 405 405 405 login",
    "playbooks:playbook_list": "200 200 200 200 200 200 login",
    "playbooks:step_edit": "404 404 403 403 403 403 login",
    "playbooks:step_delete": "405 405 405 405 405 405 login",
    "playbooks:playbook_edit": "200 200 403 403 403 403 login",
    "playbooks:step_create": "200 200 403 403 403 403 login",
    "playbooks:tier_policy": "200 200 200 200 200 200 login",
    "playbooks:automation": "200 200 200 200 200 200 login",
    "resource:plan": "200 200 200 200 403 200 login",
    "resource:calendars": "200 200 200 200 200 200 login",
    "progress:unsubscribe": "404 404 404 404 404 404 404",
    "progress:project_progress": "404 404 404 404 404 404 login",
    "progress:report_pdf": "404 404 404 404 404 404 login",
    "progress:report_send": "405 405 405 405 405 405 login",
    "progress:milestone_add": "405 405 405 405 405 405 login",
    "progress:milestone_edit": "404 404 404 404 404 404 login",
    "progress:milestone_delete": "405 405 405 405 405 405 login",
    "progress:update_add": "405 405 405 405 405 405 login",
    "progress:update_edit": "404 404 404 404 404 404 login",
    "progress:update_delete": "405 405 405 405 405 405 login",
    "progress:delivery_list": "200 200 200 200 200 200 login",
    "monitoring:dashboard": "200 200 200 200 200 200 login",
    "monitoring:compute": "405 405 405 405 405 405 login",
    "monitoring:effect": "200 200 403 200 200 200 login",
    "monitoring:management_report": "422 422 403 422 422 422 login",
    "financing:project_wall": "405 405 405 405 405 405 login",
    "financing:wall_register": "403 403 403 403 200 403 login",
    "plans:plan_list": "200 200 200 200 200 200 login",
    "plans:plan_create": "200 200 200 403 403 403 login",
    "plans:plan_detail": "404 404 404 404 404 404 login",
    "plans:plan_revise": "404 404 404 404 404 404 login",
    "plans:plan_transition": "405 405 405 405 405 405 login",
    "plans:plan_send": "405 405 405 405 405 405 login",
    "plans:plan_proposal": "404 404 404 404 404 404 login",
    "plans:template_from_plan": "405 405 405 405 405 405 login",
    "plans:template_apply": "405 405 405 405 405 405 login",
    "closing:checklist": "404 404 404 404 404 404 login",
    "closing:checklist_create": "405 405 405 405 405 405 login",
    "closing:sign_off": "405 405 405 405 405 405 login",
    "closing:item_status": "405 405 405 405 405 405 login",
    "closing:item_edit": "405 405 405 405 405 405 login",
    "closing:evidence_upload": "405 405 405 405 405 405 login",
    "closing:evidence_download": "404 404 404 404 404 404 login",
    "closing:template": "404 404 404 404 404 404 login",
    "book:book": "404 404 404 404 404 404 login",
    "book:settings": "404 404 404 404 404 404 login",
    "book:allocate": "405 405 405 405 405 405 login",
    "connect:connections": "200 200 200 200 200 200 login",
    "connect:feed_new": "405 405 405 405 405 405 login",
    "connect:feed_revoke": "405 405 405 405 405 405 login",
    "connect:vcard_export": "200 200 200 200 200 200 login",
    "connect:vcard_import": "405 405 405 405 405 405 login",
    "connect:webhook_new": "405 403 403 403 403 403 login",
    "connect:webhook_toggle": "405 403 403 403 403 403 login",
    "connect:webhook_delete": "405 403 403 403 403 403 login",
    "connect:feed": "404 404 404 404 404 404 404",
    "privacy:page": "200 403 403 403 200 403 login",
    "privacy:export": "404 403 403 403 404 403 login",
    "privacy:erase": "405 403 403 403 405 403 login",
    "privacy:hold": "405 403 403 403 405 403 login",
    "privacy:purpose_add": "405 403 403 403 405 403 login",
    "privacy:purpose_active": "405 403 403 403 405 403 login",
    "intel:accounts": "200 200 200 200 200 200 login",
    "intel:account_action": "405 405 405 405 405 405 login",
    "intel:suggestions": "200 200 200 200 200 200 login",
    "intel:suggestion_decide": "405 405 405 405 405 405 login",
    "intel:interaction_mail": "404 404 404 404 404 404 login",
    "backup:audit": "200 403 403 403 200 403 login",
    "backup:audit_check": "405 403 403 403 405 403 login",
    "backup:backup_take": "405 403 403 403 403 403 login",
}


def api_operations() -> list[str]:
    schema = api.get_openapi_schema()
    return [f"{method.upper()} {path}" for path, ops in schema["paths"].items() for method in ops]


def fill(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: SAMPLES.get(m.group(1), MISSING), path)


def page_names(patterns=None, namespace: str = "", prefix: str = "") -> list[tuple[str, str]]:
    """(name, route) of every named page, the admin's, the API's and i18n's own left out."""
    from bcrm.urls import urlpatterns

    found = []
    entries: list[Any] = list(urlpatterns if patterns is None else patterns)
    for entry in entries:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith(("admin/", "api/", "i18n/")):
                continue
            space = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += page_names(entry.url_patterns, space, route)
        elif isinstance(entry, URLPattern) and entry.name:
            found.append((namespace + entry.name, route))
    return found


def page_url(name: str, route: str) -> str:
    kwargs = {key: (MISSING if conv == "int" else SAMPLES.get(key, "x"))
              for conv, key in re.findall(r"<(?:(\w+):)?(\w+)>", route) for conv in [conv or "str"]}
    return reverse(name, kwargs=kwargs)


@pytest.fixture
def people(db, settings):
    settings.BCRM_2FA_REQUIRED_ROLES = []
    team = make_team("Matrix Desk")
    make_org(legal_name="Matrix Client", team=team)
    return {role: make_user(f"matrix.{role}", role, team=team) for role in ROLES if role != "anonymous"}


def observed_api(people) -> dict[str, str]:
    clients = {role: api_client(user) for role, user in people.items()}
    clients["anonymous"] = Client()
    table = {}
    for operation in api_operations():
        method, path = operation.split(" ", 1)
        cells = []
        for role in ROLES:
            client = clients[role]
            if method == "GET":
                response = client.get(fill(path))
            else:
                response = getattr(client, method.lower())(fill(path), "{}", content_type="application/json")
            cells.append(str(response.status_code))
        table[operation] = " ".join(cells)
    return table


def observed_pages(people) -> dict[str, str]:
    clients = {role: signed_in(user) for role, user in people.items()}
    clients["anonymous"] = Client()
    table = {}
    for name, route in page_names():
        url = page_url(name, route)
        cells = []
        for role in ROLES:
            response = clients[role].get(url)
            if response.status_code == 302 and response["Location"].startswith("/login/"):
                cells.append("login")
            else:
                cells.append(str(response.status_code))
        table[name] = " ".join(cells)
    return table


def compare(expected: dict[str, str], observed: dict[str, str], what: str) -> None:
    if os.environ.get("BCRM_MATRIX_PRINT"):
        print(f"\n{what} = {{")
        for key, cells in observed.items():
            print(f'    "{key}": "{cells}",')
        print("}")
    missing = sorted(set(observed) - set(expected))
    assert not missing, f"{what}: no entry in the permission matrix for {missing}"
    gone = sorted(set(expected) - set(observed))
    assert not gone, f"{what}: entries for endpoints that no longer exist: {gone}"
    wrong = {key: (expected[key], observed[key]) for key in expected if expected[key] != observed[key]}
    assert not wrong, f"{what} (expected, observed) in the order {ROLES}: {wrong}"


def test_every_api_operation_answers_each_role_as_the_matrix_says(people):
    compare(API, observed_api(people), "API")


def test_every_page_answers_each_role_as_the_matrix_says(people):
    compare(PAGES, observed_pages(people), "PAGES")
