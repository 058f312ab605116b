"""The key that encrypts connected accounts' passwords (Fernet: AES-128-CBC + HMAC-SHA256).

From ``BCRM_MAIL_KEY`` in the environment (a Fernet key, ``Fernet.generate_key()``), else generated once into
``<data folder>/mail_key`` (mode 0600), as the secret key and the audit key are. Keep it off the database host:
without it the stored passwords cannot be read, and the accounts must be connected again.
"""

from __future__ import annotations

import os
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@cache
def _fernet() -> Fernet:
    key = os.environ.get("BCRM_MAIL_KEY")
    if not key:
        path = settings.DATA_DIR / "mail_key"
        if not path.exists():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(Fernet.generate_key())
        key = path.read_text().strip()
    return Fernet(key.encode())


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str | None:
    """The clear password, or None when the key changed since it was stored."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None
