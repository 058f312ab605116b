"""How management commands report a ServiceError: the message, each field error, exit status 1."""

from __future__ import annotations

from django.core.management.base import CommandError

from bcrm.core.errors import ServiceError


def command_error(exc: ServiceError) -> CommandError:
    lines = [exc.message]
    for item in exc.as_dict()["fields"]:
        lines.append(f"  {item['path']}: {item['message']}")
    return CommandError("\n".join(lines))
