"""The REST API under /api/v1/: one NinjaAPI, one error shape, two ways to authenticate."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import get_language
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer, SessionAuth

from bcrm.accounts.api import router as accounts_router
from bcrm.accounts.services import token_authenticate
from bcrm.backup.api import router as backup_router
from bcrm.book.api import router as book_router
from bcrm.closing.api import router as closing_router
from bcrm.connect.api import router as connect_router
from bcrm.core.dbbusy import BUSY_CODE, BUSY_MESSAGE, BUSY_RETRY_AFTER, is_lock_timeout
from bcrm.core.errors import ServiceError
from bcrm.dataio.api import router as dataio_router
from bcrm.dataquality.api import router as dataquality_router
from bcrm.dedupe.api import router as dedupe_router
from bcrm.engagement.api import router as engagement_router
from bcrm.fileanalysis.api import router as analysis_router
from bcrm.financing.api import router as financing_router
from bcrm.intel.api import router as intel_router
from bcrm.monitoring.api import router as monitoring_router
from bcrm.parties.api import router as parties_router
from bcrm.plans.api import router as plans_router
from bcrm.playbooks.api import router as playbooks_router
from bcrm.privacy.api import router as privacy_router
from bcrm.progress.api import router as progress_router
from bcrm.resources.api import router as resource_router
from bcrm.segmentation.api import router as segmentation_router
from bcrm.segmentation.model_api import router as model_router
from bcrm.surveys.api import router as surveys_router
from bcrm.web.api import router as web_router


class BearerToken(HttpBearer):
    """``Authorization: Bearer bcrm_…`` — a personal token, stored hashed, revocable."""

    def authenticate(self, request: HttpRequest, token: str):
        user = token_authenticate(token)
        if user is not None:
            request.user = user
        else:
            request.bcrm_token_refused = token  # type: ignore[attr-defined]  # on_auth_error says why
        return user


class CachedSchemaAPI(NinjaAPI):
    """The NinjaAPI whose OpenAPI document is built once per process (per path prefix and language).

    Building it walks every endpoint's schemas, which takes seconds; the routes cannot change while the
    process runs, so ``/api/v1/openapi.json`` and the docs page answer from memory after the first time.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schema_cache: dict[tuple[str | None, str | None, str], Any] = {}

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None):
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        key = (path_prefix, get_language(), repr(sorted((path_params or {}).items())))
        schema = self._schema_cache.get(key)
        if schema is None:
            schema = self._schema_cache[key] = self.build_openapi_schema(path_prefix=path_prefix)
        return schema

    def build_openapi_schema(self, *, path_prefix: str):
        return document_errors(super().get_openapi_schema(path_prefix=path_prefix))

    def clear_schema_cache(self) -> None:
        self._schema_cache.clear()


# The errors any operation can answer, in the one error shape: a body that is not JSON (400, only where there is a
# body), no or a refused credential (401), a role that may not (403), an unknown or unseen id (404), a field or
# parameter that is not valid (422). Documented on every operation, so the document says what the API does.
COMMON_ERRORS = {
    "400": "Malformed body: not JSON, or not in the declared encoding (code `malformed_body`)",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "Not Found",
    "422": "Unprocessable Entity",
}


def document_errors(schema: Any) -> Any:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for operations in schema["paths"].values():
        for operation in operations.values():
            # django-ninja keys its responses by int: one key per status, as text, so no status appears twice
            responses = operation["responses"] = {str(k): v for k, v in operation.get("responses", {}).items()}
            for status, description in COMMON_ERRORS.items():
                if status == "400" and "requestBody" not in operation:
                    continue
                responses.setdefault(status, {"description": description, "content": error})
    return schema


def docs_access(view):
    """The OpenAPI document and the Swagger UI page: for a signed-in user or a valid API token, unless
    ``BCRM_API_DOCS_PUBLIC``. Anonymous readers get the sign-in page (docs) or a 401 in the API's shape (schema)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.BCRM_API_DOCS_PUBLIC or request.user.is_authenticated:
            return view(request, *args, **kwargs)
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and token_authenticate(header[len("Bearer "):].strip()) is not None:
            return view(request, *args, **kwargs)
        if request.path_info.endswith("/docs"):
            return redirect_to_login(request.get_full_path())
        return JsonResponse(error_body("unauthenticated", "Authentication required: a valid bearer token or a "
                                                          "session."), status=401)

    return wrapped


@csrf_exempt  # a write to an unknown path is a 404 too, not a CSRF page
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under /api/ (a path id that is not a number, say): a JSON 404 in the API's error shape,
    not Django's HTML page."""
    return JsonResponse(error_body("not_found", "Not found, or you may not see it."), status=404)


api = CachedSchemaAPI(
    title="bcrm API",
    version="1",
    description=(
        "Binary CRM for project finance. Authenticate with a personal token "
        "(`bcrm token create USER`, then `Authorization: Bearer <token>`) or a browser session. "
        "Every error has the shape `{\"error\": {\"code\", \"message\", \"fields\": [{\"path\", \"message\"}]}}`. "
        "Updates carry the `version` they read; a stale version gets 409. "
        "A 401 says why: `unauthenticated`, `token_expired` (tokens expire after BCRM_TOKEN_DAYS, 90 days, "
        "unless created with another `expires_at`), `token_revoked`, or `second_factor_required` (a browser "
        "session that has not finished two-factor sign-in)."
    ),
    auth=[BearerToken(), SessionAuth()],
    urls_namespace="api",
    docs_url="/docs",
    # Swagger UI from the app's own static files (ninja is an installed app: no CDN); operations and models
    # start collapsed, so the browser renders a long document in a moment.
    docs=Swagger(settings={"docExpansion": "none", "defaultModelsExpandDepth": -1}),
    openapi_url="/openapi.json",
    docs_decorator=docs_access,
)


def error_body(code: str, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or []}}


@api.exception_handler(ServiceError)
def on_service_error(request, exc: ServiceError):
    return api.create_response(request, {"error": exc.as_dict()}, status=exc.status)


@api.exception_handler(NinjaValidationError)
def on_validation_error(request, exc: NinjaValidationError):
    fields = []
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", [])]
        # Drop ninja's wrapper names ("body", "payload", "query") so paths name the client's fields.
        while loc and loc[0] in {"body", "query", "path", "payload", "filters", "data"}:
            loc = loc[1:]
        fields.append({"path": ".".join(loc) or "__all__", "message": err.get("msg", "invalid")})
    return api.create_response(request, error_body("invalid", "Some fields are not valid.", fields), status=422)


TOKEN_REFUSED = {
    "expired": ("token_expired", "This API token has expired: create a new one (tokens expire after BCRM_TOKEN_DAYS "
                                 "days unless created with another expiry)."),
    "revoked": ("token_revoked", "This API token was revoked: create a new one."),
}


@api.exception_handler(AuthenticationError)
def on_auth_error(request, exc):
    from bcrm.accounts.services import token_state

    refused = getattr(request, "bcrm_token_refused", None)
    code, message = TOKEN_REFUSED.get(token_state(refused) if refused else "", (
        "unauthenticated", "Authentication required: a valid bearer token or a session."))
    return api.create_response(request, error_body(code, message), status=401)


@api.exception_handler(OperationalError)
def on_database_busy(request, exc: OperationalError):
    """A write that timed out on the database's lock: 503 with Retry-After (bcrm.core.dbbusy); other
    operational errors stay errors."""
    if not is_lock_timeout(exc):
        raise exc
    response = api.create_response(request, error_body(BUSY_CODE, BUSY_MESSAGE), status=503)
    response["Retry-After"] = str(BUSY_RETRY_AFTER)
    return response


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return api.create_response(request, error_body("not_found", "Not found, or you may not see it."), status=404)


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    # ninja raises HttpError(400) for a body it cannot parse (malformed JSON, a broken multipart form) and
    # HttpError(403) for a session write without the CSRF token
    code = {400: "malformed_body", 403: "csrf_failed"}.get(exc.status_code, "http_error")
    return api.create_response(request, error_body(code, str(exc)), status=exc.status_code)



# Every app's endpoints, in the order the OpenAPI document lists them.
for router in (
    accounts_router,
    parties_router,
    financing_router,
    engagement_router,
    segmentation_router,
    dataquality_router,
    model_router,
    dataio_router,
    surveys_router,
    dedupe_router,
    intel_router,
    analysis_router,
    plans_router,
    closing_router,
    playbooks_router,
    book_router,
    resource_router,
    progress_router,
    monitoring_router,
    connect_router,
    privacy_router,
    web_router,
    backup_router,
):
    api.add_router("", router)
