from django.core.management.base import BaseCommand, CommandError

from bcrm.accounts.models import ApiToken
from bcrm.accounts.services import token_create, token_revoke, user_get_by_username
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError


class Command(BaseCommand):
    help = "Create, list or revoke personal API tokens. `token create USER` prints a new token once."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="print a new token for USER")
        create.add_argument("username")
        create.add_argument("--name", default="cli")
        listing = sub.add_parser("list", help="list USER's tokens")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="revoke a token by id")
        revoke.add_argument("token_id", type=int)

    def handle(self, *args, action, **options):
        try:
            if action == "create":
                user = user_get_by_username(options["username"])
                _, raw = token_create(actor=None, user=user, name=options["name"])
                self.stdout.write(raw)
            elif action == "list":
                user = user_get_by_username(options["username"])
                for token in ApiToken.objects.filter(user=user):
                    state = "revoked" if token.revoked_at else ("active" if token.is_active else "expired")
                    self.stdout.write(f"{token.pk}\t{token.prefix}…\t{token.name}\t{state}\t{token.created_at:%Y-%m-%d}")
            else:
                found = ApiToken.objects.filter(pk=options["token_id"]).first()
                if found is None:
                    raise CommandError(f"No token with id {options['token_id']}.")
                token_revoke(actor=None, token=found)
                self.stdout.write(f"Revoked token {found.pk}.")
        except ServiceError as exc:
            raise command_error(exc) from exc
