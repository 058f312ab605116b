"""``bcrm unlock USER``: end a sign-in lockout now (the failures are cleared and the unlock is audited)."""

from django.core.management.base import BaseCommand

from bcrm.accounts.security import user_unlock
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError


class Command(BaseCommand):
    help = "Unlock a user locked out after repeated failed sign-ins."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            cleared = user_unlock(actor=None, username=username)
        except ServiceError as exc:
            raise command_error(exc) from exc
        self.stdout.write(f"Unlocked {username} ({cleared} failed sign-in record(s) cleared).")
