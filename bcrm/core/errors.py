"""The one error family every door (web, API, CLI) translates the same way."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _


class ServiceError(Exception):
    status = 400
    code = "error"

    def __init__(self, message=None, *, fields: dict[str, list[str]] | None = None, code: str | None = None):
        self.message = str(message or self.default_message)
        self.fields = fields or {}
        if code:
            self.code = code
        super().__init__(self.message)

    default_message = _("The request could not be completed.")

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "fields": [
                {"path": path, "message": str(msg)} for path, msgs in self.fields.items() for msg in msgs
            ],
        }


class NotFound(ServiceError):
    status = 404
    code = "not_found"
    default_message = _("Not found, or you may not see it.")


class PermissionDenied(ServiceError):
    status = 403
    code = "permission_denied"
    default_message = _("You do not have permission to do this.")


class Conflict(ServiceError):
    status = 409
    code = "conflict"
    default_message = _("Someone else changed this record since you opened it. Reload and try again.")


class InvalidInput(ServiceError):
    status = 422
    code = "invalid"
    default_message = _("Some fields are not valid.")

    @classmethod
    def from_django(cls, exc: DjangoValidationError) -> InvalidInput:
        if hasattr(exc, "error_dict"):
            fields = {
                ("__all__" if key == NON_FIELD_ERRORS else key): [str(m) for e in errs for m in e.messages]
                for key, errs in exc.error_dict.items()
            }
        else:
            fields = {"__all__": [str(m) for m in exc.messages]}
        first = next(iter(fields.values()))[0] if fields else None
        message = first if list(fields) == ["__all__"] else None
        return cls(message, fields=fields)
