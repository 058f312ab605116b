from django.core.management.base import BaseCommand, CommandError

from bcrm.accounts.services import user_get_by_username
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.intel.models import AccountKind, ConnectedAccount


def report(command: BaseCommand, label: str, result) -> None:
    command.stdout.write(f"{label}: {result.new} new, {result.duplicates} already captured, {result.matched} "
                         f"matched, {result.unmatched} unmatched, {result.internal} internal, {result.excluded} excluded, "
                         f"{result.cancelled} cancelled, {result.malformed} malformed, "
                         f"{result.suggested} new contact suggestions, {result.interactions} interactions")
    for error in result.errors[:5]:
        command.stderr.write(f"  malformed: {error}")


def accounts(kind: str, username: str | None):
    found = ConnectedAccount.objects.filter(kind=kind, active=True).select_related("user")
    if username:
        found = found.filter(user=user_get_by_username(username))
    return list(found)


class Command(BaseCommand):
    help = ("Capture mail headers: `mail sync [--user U]` reads connected IMAP mailboxes, `mail import FILE --user U` "
            "an mbox/EML file; `mail keep ITEM --user U` keeps one captured message's body, `mail show ITEM --user U` "
            "prints it, `mail discard ITEM --user U` deletes the kept copy (ITEM: the captured item's id or its "
            "Message-ID).")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sync = sub.add_parser("sync", help="sync the connected mailboxes (all, or one user's)")
        sync.add_argument("--user", default=None)
        imp = sub.add_parser("import", help="capture the headers of an mbox or .eml file")
        imp.add_argument("file")
        imp.add_argument("--user", required=True)
        for name, text in (("keep", "keep one captured message's body and attachment list (your own mail)"),
                           ("show", "print a kept message"), ("discard", "delete a kept copy")):
            one = sub.add_parser(name, help=text)
            one.add_argument("item", help="the captured item's id, or the message's Message-ID")
            one.add_argument("--user", required=True, help="whose mail it is (keep, discard) or who reads it (show)")

    def handle(self, *args, action, **options):
        from bcrm.intel.sources import import_mail_file, sync_mailbox

        try:
            if action in ("keep", "show", "discard"):
                self.one_message(action, user_get_by_username(options["user"]), options["item"])
                return
            if action == "import":
                report(self, options["file"], import_mail_file(user_get_by_username(options["user"]), options["file"]))
                return
            failed = False
            for account in accounts(AccountKind.IMAP, options["user"]):
                result = sync_mailbox(account)
                report(self, f"{account} ({account.user})", result)
                self.stdout.write(f"  status: {account.status} {account.status_detail}")
                failed |= account.status != "ok"
            if failed:
                raise CommandError("Some mailboxes could not be synced completely (see their status).")
        except ServiceError as exc:
            raise command_error(exc) from exc

    def one_message(self, action: str, user, ref: str) -> None:
        from bcrm.intel import keep
        from bcrm.intel.models import CapturedItem

        item_id = int(ref) if ref.isdigit() else (
            CapturedItem.objects.filter(user=user, key=ref.strip().strip("<>")).values_list("pk", flat=True).first()
            or 0)
        if action == "discard":
            keep.kept_delete(actor=user, item_id=item_id)
            self.stdout.write(f"item {item_id}: kept copy deleted")
            return
        kept = keep.message_keep(actor=user, item_id=item_id) if action == "keep" else keep.kept_get(
            actor=user, item_id=item_id)
        note = keep.status_text(kept.status_code, kept.status_params)
        self.stdout.write(f"item {item_id}: {kept.status}" + (f" ({note})" if note else "")
                          + (f", {kept.size} bytes" if kept.size is not None else ""))
        for attachment in kept.attachments:
            self.stdout.write(f"  attachment: {attachment['name'] or '-'} {attachment['type']} {attachment['size']} bytes")
        if action == "show":
            self.stdout.write(kept.body_text)
        if kept.status not in ("kept", "truncated"):
            raise CommandError(note or kept.status)
