"""``bcrm analyse <subcommand>``: analyst tools that work on any file, without the database.

Each subcommand lives in its own module, listed in :data:`SUBCOMMANDS`. A module provides ``HELP`` (one
line), optionally ``DESCRIPTION`` (its --help text), ``add_arguments(parser)`` and
``handle(command, options)``; to add ``clv`` or ``scorecard``, write the module and add one line here.
"""

from __future__ import annotations

import argparse
from importlib import import_module
from types import ModuleType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

#: subcommand → module implementing it
SUBCOMMANDS: dict[str, str] = {
    "split": "bcrm.fileanalysis.splitfile",
    "clv": "bcrm.fileanalysis.clvfile",
    "scorecard": "bcrm.fileanalysis.scorecardfile",
    "bgbb": "bcrm.fileanalysis.bgbbfile",
}


def _module(name: str) -> ModuleType:
    return import_module(SUBCOMMANDS[name])


class Command(BaseCommand):
    help = "Analyst tools on any file: `analyse split FILE.csv --column C` compares the split methods."
    requires_system_checks: list[str] = []          # reads files only: no database, no checks needed
    #: the subcommand named on the command line (``bcrm analyse clv …``), when it is known before parsing
    requested: str | None = None

    def run_from_argv(self, argv: list[str]) -> None:
        # From the console only the named subcommand's module is imported (the others load models and
        # libraries it does not need); `bcrm analyse --help` and call_command() still see every one.
        self.requested = argv[2] if len(argv) > 2 and argv[2] in SUBCOMMANDS else None
        super().run_from_argv(argv)

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
        for name in SUBCOMMANDS:
            if self.requested and name != self.requested:
                sub.add_parser(name)                    # named, not loaded: the command line chose another
                continue
            module = _module(name)
            module.add_arguments(sub.add_parser(
                name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                formatter_class=argparse.RawDescriptionHelpFormatter))

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        _module(subcommand).handle(self, options)
