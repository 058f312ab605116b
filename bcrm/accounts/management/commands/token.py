from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

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
        create.add_argument("--days", type=int, default=None,
                            help="days until it expires (default: BCRM_TOKEN_DAYS, 90)")
        listing = sub.add_parser("list", help="list USER's tokens")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="revoke a token by id")
        revoke.add_argument("token_id", type=int)

    def handle(self, *args, action, **options):
        try:
            if action == "create":
                user = user_get_by_username(options["username"])
                days = options["days"]
                if days is not None and days < 1:
                    raise CommandError("--days must be at least 1: a token cannot be created already expired.")
                expires = timezone.now() + timedelta(days=days) if days is not None else None
                _, raw = token_create(actor=None, user=user, name=options["name"], expires_at=expires)
                self.stdout.write(raw)
            elif action == "list":
                user = user_get_by_username(options["username"])
                for token in ApiToken.objects.filter(user=user):
                    state = "revoked" if token.revoked_at else ("active" if token.is_active else "expired")
                    until = f"expires {token.expires_at:%Y-%m-%d}" if token.expires_at else "never expires"
                    self.stdout.write(f"{token.pk}\t{token.prefix}…\t{token.name}\t{state}\t"
                                      f"{token.created_at:%Y-%m-%d}\t{until}")
            else:
                found = ApiToken.objects.filter(pk=options["token_id"]).first()
                if found is None:
                    raise CommandError(f"No token with id {options['token_id']}.")
                token_revoke(actor=None, token=found)
                self.stdout.write(f"Revoked token {found.pk}.")
        except ServiceError as exc:
            raise command_error(exc) from exc
