import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from bcrm.accounts.choices import Role
from bcrm.accounts.services import user_create
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError


class Command(BaseCommand):
    help = "Create a bcrm user with one or more roles."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", action="append", choices=Role.values, required=True,
                            help="repeat for several roles")
        parser.add_argument("--email", default="")
        parser.add_argument("--password-stdin", action="store_true",
                            help="read the password from standard input instead of prompting")

    def handle(self, *args, username, role, email, password_stdin, **options):
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords differ.")
        try:
            user = user_create(actor=None, username=username, password=password, email=email, roles=role)
        except ServiceError as exc:
            raise command_error(exc) from exc
        self.stdout.write(f"Created user {user.username} with roles {', '.join(role)}.")
