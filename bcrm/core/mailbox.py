"""The outbox: an e-mail back end that writes each message as one RFC 822 ``.eml`` file.

Used by every process (web server, worker, CLI) when no mail server is configured (``EMAIL_HOST`` unset; see
the e-mail block of ``bcrm/settings.py``). Each message becomes its own file in ``EMAIL_FILE_PATH``
(``<data>/outbox``), named by the time it was written and a unique id
(``20261206-074512-123456-<32 hex>.eml``), readable by the owner only (mode 0600), so any mail program opens it
and a folder listing sorts them by time. A file appears whole or not at all (written under a temporary name,
then renamed)."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage


class EmlFileBackend(BaseEmailBackend):
    """``EMAIL_BACKEND = "bcrm.core.mailbox.EmlFileBackend"``: one ``.eml`` file per message."""

    def __init__(self, file_path: str | os.PathLike[str] | None = None, fail_silently: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        folder = file_path or settings.EMAIL_FILE_PATH
        if not folder:
            raise ImproperlyConfigured("EMAIL_FILE_PATH must name the outbox folder.")
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def _ensure_folder(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise ImproperlyConfigured(f"The outbox {self.folder} exists and is not a folder.")
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def file_name(self) -> str:
        now = dt.datetime.now(dt.UTC)
        return f"{now:%Y%m%d-%H%M%S-%f}-{uuid.uuid4().hex}.eml"

    def write(self, message: EmailMessage) -> Path:
        """Write one message; returns its file."""
        data = message.message().as_bytes(linesep="\r\n")
        target = self.folder / self.file_name()
        temporary = target.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if not data.endswith(b"\r\n"):
                    fh.write(b"\r\n")
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return target

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if not email_messages:
            return 0
        sent = 0
        with self._lock:
            try:
                self._ensure_folder()
                for message in email_messages:
                    if not message.recipients():
                        continue
                    self.write(message)
                    sent += 1
            except Exception:
                if not self.fail_silently:
                    raise
        return sent
