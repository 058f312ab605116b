"""`bcrm privacy export|erase|hold|purposes`: privacy requests from the command line. Without ``--as`` the command
runs as the system operator (whoever runs ``bcrm`` on the server); with ``--as USER`` that user must be a
compliance officer or an administrator, as in the web UI and the API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from bcrm.core.errors import ServiceError
from bcrm.privacy import services


class Command(BaseCommand):
    help = "Privacy requests: export a contact's data, erase it, place a retention hold, list the purposes."

    def add_arguments(self, parser):
        parser.add_argument("--as", dest="as_user", metavar="USER", help="act as this user (compliance or admin)")
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="write a ZIP (JSON + CSVs) of everything held on a contact")
        export.add_argument("--contact", type=int, required=True)
        export.add_argument("file")
        erase = sub.add_parser("erase", help="anonymise a contact everywhere")
        erase.add_argument("--contact", type=int, required=True)
        erase.add_argument("--reason", required=True)
        hold = sub.add_parser("hold", help="keep a contact's records until a date; restricts processing")
        hold.add_argument("--contact", type=int, required=True)
        hold.add_argument("--until", type=dt.date.fromisoformat, required=True)
        hold.add_argument("--reason", required=True)
        sub.add_parser("purposes", help="list the register of processing purposes")

    def handle(self, *args, action, as_user=None, **options):
        actor = None
        if as_user:
            user = as_user
            try:
                actor = get_user_model().objects.get(username=user)
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user {user!r}.") from None
        try:
            if action == "export":
                _name, content = services.export_package(actor=actor, contact_id=options["contact"])
                path = Path(options["file"])
                try:
                    path.write_bytes(content)
                except OSError as exc:
                    raise CommandError(f"Cannot write {path}: {exc.strerror or exc}") from exc
                self.stdout.write(f"Wrote the data held on contact {options['contact']} to {path}.")
            elif action == "erase":
                result = services.erase(actor=actor, contact_id=options["contact"], reason=options["reason"])
                self.stdout.write(
                    f"Erased contact {options['contact']} (reference {result.erasure.reference}): "
                    f"{sum(result.rows.values())} rows, {result.audit_entries} audit entries, "
                    f"{len(result.files_deleted)} outbox files deleted, {len(result.files_rewritten)} files "
                    f"rewritten.")
                for name in result.files_left:
                    self.stderr.write(f"Not rewritten (binary file): {name}")
            elif action == "hold":
                hold = services.hold_place(actor=actor, contact_id=options["contact"], until=options["until"],
                                           reason=options["reason"])
                self.stdout.write(f"Contact {hold.contact_id} is held until {hold.until}; processing is restricted.")
            else:
                for purpose in services.purposes():
                    self.stdout.write(f"{purpose.code}\t{purpose.mail_kind or '-'}\t{purpose.legal_basis}\t"
                                      f"{'active' if purpose.active else 'inactive'}\t{purpose.name}")
        except ServiceError as exc:
            details = "; ".join(f"{f['path']}: {f['message']}" for f in exc.as_dict()["fields"])
            raise CommandError(f"{exc.message}{' ' + details if details else ''}") from exc
