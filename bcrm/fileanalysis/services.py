"""What the API and the page share to run an analyst tool on an uploaded file.

``analyse_upload`` checks the user may analyse (any role), saves the upload to a temporary file (at most
``BCRM_ANALYSE_MAX_BYTES``, 100 MiB by default), calls the same function as ``bcrm analyse <tool> --json``
(:func:`bcrm.fileanalysis.splitfile.run`, :func:`~bcrm.fileanalysis.clvfile.run`,
:func:`~bcrm.fileanalysis.scorecardfile.run`) and returns its report. A bad file or option is
:class:`~bcrm.core.errors.InvalidInput` naming the field at fault. Nothing is written to the database and
the temporary files are removed whatever happens.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from bcrm.accounts.choices import Role
from bcrm.accounts.permissions import user_roles
from bcrm.core.errors import InvalidInput, PermissionDenied

TOOLS = ("split", "clv", "scorecard", "bgbb")
#: the largest predictions file the page offers as a download link (larger: use the CLI or the API)
MAX_PREDICTIONS_BYTES = 20 * 1024 * 1024


def max_bytes() -> int:
    return int(settings.BCRM_ANALYSE_MAX_BYTES)


def may_analyse(user: Any) -> bool:
    """Any signed-in user with a role may analyse a file (it touches no client data); no role, no tools."""
    return bool(user_roles(user) & set(Role.values))


def require_analyst(user: Any) -> None:
    """Any signed-in user with a role may analyse a file (it touches no client data); no role, no tools."""
    if not may_analyse(user):
        raise PermissionDenied(_("You need a role in bcrm to use the analyst tools."))


def _runner(tool: str) -> Callable[..., dict[str, Any]]:
    from bcrm.fileanalysis import bgbbfile, clvfile, scorecardfile, splitfile

    runners: dict[str, Callable[..., dict[str, Any]]] = {
        "split": splitfile.run, "clv": clvfile.run, "scorecard": scorecardfile.run, "bgbb": bgbbfile.run}
    return runners[tool]


def _field_of(message: str, options: dict[str, Any]) -> str:
    """The option a CLI message names (``--horizon must be …`` → ``horizon``), else the file."""
    for flag in re.findall(r"--([a-z][a-z-]*)", message):
        name = flag.replace("-", "_")
        if name in options or name in {"map", "param", "columns", "exclude"}:
            return name
    return "file"


def analyse_upload(*, actor: Any, tool: str, upload: UploadedFile, options: dict[str, Any],
                   predictions: bool = False) -> dict[str, Any]:
    """Run ``tool`` on ``upload`` with ``options`` (the CLI's, by their Python names) and return the report.

    With ``predictions`` (clv only) the per-customer predictions CSV comes back as text under the key
    ``predictions_csv`` (``None`` when larger than :data:`MAX_PREDICTIONS_BYTES`).
    """
    require_analyst(actor)
    if tool not in TOOLS:
        raise InvalidInput(fields={"tool": [_("Choose one of %(tools)s.") % {"tools": ", ".join(TOOLS)}]})
    limit = max_bytes()
    if upload is None or not upload.size:
        raise InvalidInput(fields={"file": [_("The file is empty.")]})
    if upload.size > limit:
        raise InvalidInput(fields={"file": [_("The file is larger than %(limit)s MiB.")
                                            % {"limit": f"{limit / 1024 / 1024:g}"}]})
    suffix = Path(upload.name or "").suffix.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,8}", suffix):
        suffix = ".csv"
    with tempfile.TemporaryDirectory(prefix="bcrm-analyse-") as directory:
        path = Path(directory) / f"upload{suffix}"
        with path.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        kwargs = dict(options)
        out = Path(directory) / "predictions.csv"
        if predictions and tool == "clv":
            kwargs["out"] = str(out)
        try:
            report = _runner(tool)(str(path), **kwargs)
        except CommandError as exc:
            message = str(exc)
            raise InvalidInput(message, fields={_field_of(message, options): [message]}) from exc
        except (ValueError, UnicodeError) as exc:  # a file no reader understands: say so, keep no traceback
            raise InvalidInput(fields={"file": [_("The file could not be read: %(reason)s") % {"reason": exc}]}) from None
        report["file"] = upload.name or report.get("file", "")
        if "out" in report:
            del report["out"]
            report["predictions_csv"] = (out.read_text(encoding="utf-8")
                                         if out.stat().st_size <= MAX_PREDICTIONS_BYTES else None)
    return report
