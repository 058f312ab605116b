from django.core.management.base import BaseCommand

from bcrm.accounts.services import user_get_by_username
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.intel.management.commands.mail import report


class Command(BaseCommand):
    help = "Capture meetings: `calendar import FILE --user U` reads an .ics file (CalDAV sync: not yet)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="capture the meetings of an .ics file")
        imp.add_argument("file")
        imp.add_argument("--user", required=True)

    def handle(self, *args, action, **options):
        from bcrm.intel.sources import import_calendar_file

        try:
            user = user_get_by_username(options["user"])
            report(self, options["file"], import_calendar_file(user, options["file"]))
        except ServiceError as exc:
            raise command_error(exc) from exc
