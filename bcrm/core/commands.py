"""Helpers of the management commands: how they report a ServiceError (the message, each field error, exit
status 1) and how they write an output file."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from bcrm.core.errors import ServiceError


def command_error(exc: ServiceError) -> CommandError:
    lines = [exc.message]
    for item in exc.as_dict()["fields"]:
        lines.append(f"  {item['path']}: {item['message']}")
    return CommandError("\n".join(lines))


def write_output(path: str, data: bytes) -> None:
    """Write a command's output file (PDF, HTML, XLSX), or a CommandError that says why it cannot."""
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise CommandError(f"Cannot write {path}: {exc.strerror or exc}") from exc
