"""The `bcrm` console command: every Django management command, plus bcrm's own.

    bcrm demo [--clients N] [--seed S] [--no-serve] [--port P]
    bcrm serve [--host H] [--port P] [--workers N]
    bcrm migrate
    bcrm createuser USERNAME --role ROLE [--password-stdin]
    bcrm token create USER | bcrm token list USER | bcrm token revoke ID
    bcrm unlock USER
    bcrm analyse split|clv|scorecard|bgbb FILE ...   (files only: starts without the database's apps)
"""

from __future__ import annotations

import os
import sys

#: Commands that read and write files only, never the database: they start with the one app that holds
#: them (:func:`_run_file_only`), not with all of bcrm's apps, their models, admin and URL configuration.
FILE_ONLY_COMMANDS: dict[str, str] = {"analyse": "bcrm.fileanalysis"}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in FILE_ONLY_COMMANDS:
        _run_file_only(args)
        return
    from django.core.management import execute_from_command_line

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


def _run_file_only(args: list[str]) -> None:
    """Run a file-only command as ``execute_from_command_line`` would (the same settings, logging,
    translations, options, messages and exit status), with only its own app in the registry.

    ``django.setup()`` imports every installed app: models, admin, signals, the URL configuration,
    about 0.8 s of CPU before a file is opened. A file analysis needs none of it; the translations come
    from ``LOCALE_PATHS`` (bcrm/locale) and Django's own catalogue, which need a ready registry, not
    every app in it. The registry is process-wide: this process never touches a model afterwards."""
    import logging.config

    from django.apps import apps
    from django.conf import settings
    from django.core.management.base import CommandError, CommandParser, handle_default_options

    # --settings and --pythonpath act before the settings are read, as in ManagementUtility.execute.
    early = CommandParser(add_help=False, allow_abbrev=False)
    early.add_argument("--settings")
    early.add_argument("--pythonpath")
    try:
        options, _rest = early.parse_known_args(args[1:])
        handle_default_options(options)
    except CommandError:
        pass  # the command's own parser reports bad options
    # bcrm's logging as django.setup() configures it, without Django's default handlers (mail to the
    # admins on a request error: they import the debug views, a quarter of a second, for no request).
    logging.captureWarnings(True)
    logging.config.dictConfig(settings.LOGGING)
    apps.populate([FILE_ONLY_COMMANDS[args[0]]])
    from django.core.management import load_command_class

    command = load_command_class(FILE_ONLY_COMMANDS[args[0]], args[0])
    command.run_from_argv(["bcrm", *args])


if __name__ == "__main__":
    main()
