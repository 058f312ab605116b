"""The `bcrm` console command: every Django management command, plus bcrm's own.

    bcrm demo [--clients N] [--seed S] [--no-serve] [--port P]
    bcrm serve [--host H] [--port P] [--workers N]
    bcrm migrate
    bcrm createuser USERNAME --role ROLE [--password-stdin]
    bcrm token create USER | bcrm token list USER | bcrm token revoke ID
    bcrm unlock USER
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["help"]
    from django.db import DatabaseError

    try:
        execute_from_command_line(["bcrm", *args])
    except DatabaseError as exc:
        # The commonest cause by far: a fresh data folder that was never migrated.
        print(f"bcrm: database error: {exc}", file=sys.stderr)
        print("bcrm: if this is a new database, run `bcrm migrate` first.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
