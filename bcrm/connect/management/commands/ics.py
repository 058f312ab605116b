from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from bcrm.connect.feeds import calendar_for
from bcrm.core.commands import write_output


class Command(BaseCommand):
    help = "Write a user's tasks and meetings as an iCalendar file: `bcrm ics export USER FILE`."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="write USER's calendar to FILE (.ics)")
        export.add_argument("username")
        export.add_argument("file")
        export.add_argument("--language", choices=["en", "zh-hans"], default="en")

    def handle(self, *args, action, username, file, language, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user called {username!r}.")
        write_output(file, calendar_for(user, language=language))
        self.stdout.write(f"Wrote {file}.")
