"""`bcrm export ENTITY FILE`: export what the acting user may see, with the client list's filters.

The format follows ``--format`` or the file's extension (.xlsx or else CSV). Without ``--as`` the
system operator exports everything (see `bcrm import`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from bcrm.core.errors import ServiceError
from bcrm.dataio.choices import Entity
from bcrm.dataio.cli import resolve_actor
from bcrm.dataio.exporters import HEADER_MODES, export_to_file
from bcrm.dataio.importer import SystemOperator
from bcrm.parties.filters import FILTER_NAMES


class Command(BaseCommand):
    help = "Export organisations, contacts, projects, participations or interactions to CSV or XLSX."

    def add_arguments(self, parser):
        parser.add_argument("entity", help=f"one of: {', '.join(Entity.values)}")
        parser.add_argument("file")
        parser.add_argument("--format", choices=["csv", "xlsx"], help="default: from the file name, else csv")
        parser.add_argument("--headers", choices=HEADER_MODES, default="name",
                            help="header row: field names (default), English or Chinese labels")
        parser.add_argument("--as", dest="as_user", metavar="USER", help="export what this user may see")
        for name in (*FILTER_NAMES, "sector", "stage"):  # the client list's filters (one definition), projects'
            parser.add_argument(f"--{name.replace('_', '-')}", help="filter, as on the list page")

    def handle(self, *args, entity, file, format, headers, as_user, **options):
        actor = resolve_actor(as_user) or SystemOperator()
        path = Path(file)
        file_format = format or ("xlsx" if path.suffix.lower() in {".xlsx", ".xlsm"} else "csv")
        filters = {k: options.get(k) for k in (*FILTER_NAMES, "sector", "stage") if options.get(k)}
        try:
            n = export_to_file(actor=actor, entity=entity, path=path, file_format=file_format, filters=filters,
                               headers=headers)
        except ServiceError as exc:
            self.stderr.write(exc.message + "".join(f"\n  {f['path']}: {f['message']}" for f in exc.as_dict()["fields"]))
            sys.exit(2)
        self.stderr.write(f"{n:,} rows written to {path}")
