"""``bcrm reset2fa USER``: remove a user's authenticator and recovery codes (a lost phone); audited. The user
signs in with the password next time and enrols again if their role requires it."""

from django.core.management.base import BaseCommand

from bcrm.accounts.services import user_get_by_username
from bcrm.accounts.twofactor import two_factor_reset
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError


class Command(BaseCommand):
    help = "Reset a user's two-factor sign-in (they enrol again at their next sign-in)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            user = user_get_by_username(username)
            removed = two_factor_reset(actor=None, user=user)
        except ServiceError as exc:
            raise command_error(exc) from exc
        self.stdout.write(f"Two-factor sign-in of {username} reset ({removed} device row(s) removed).")
