import json

from django.core.management.base import BaseCommand, CommandError

from bcrm.connect import vcards
from bcrm.core.commands import command_error, write_output
from bcrm.core.errors import ServiceError
from bcrm.dataio.cli import resolve_actor
from bcrm.parties.selectors import organization_get_for_user


class Command(BaseCommand):
    help = ("Contacts as vCard 4.0: `bcrm contacts vcard export FILE [--organization ID]`, "
            "`bcrm contacts vcard import FILE` (all cards or none).")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="format", required=True)
        vcard = sub.add_parser("vcard", help="vCard (RFC 6350) files")
        actions = vcard.add_subparsers(dest="action", required=True)
        export = actions.add_parser("export", help="write the contacts to FILE (.vcf)")
        export.add_argument("file")
        export.add_argument("--organization", type=int, help="only this organisation's contacts")
        export.add_argument("--as", dest="as_user", metavar="USER", help="see and write as this user")
        imp = actions.add_parser("import", help="import the cards of FILE")
        imp.add_argument("file")
        imp.add_argument("--as", dest="as_user", metavar="USER", help="import as this user (permissions, audit)")
        imp.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args, format, action, file, as_user=None, **options):
        actor = resolve_actor(as_user)
        try:
            if action == "export":
                organization = (organization_get_for_user(user=actor, pk=options["organization"])
                                if options.get("organization") else None)
                write_output(file, vcards.export(actor=actor, organization=organization).encode())
                self.stdout.write(f"Wrote {file}.")
                return
            try:
                with open(file, "rb") as handle:
                    raw = handle.read(vcards.MAX_UPLOAD_BYTES + 1)
            except OSError as exc:
                raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from exc
            result = vcards.import_text(actor=actor, text=vcards.text_of(raw))
        except ServiceError as exc:
            raise command_error(exc) from exc
        if options.get("json"):
            self.stdout.write(json.dumps(result.as_dict()))
        else:
            self.stdout.write("Imported: {created} new, {updated} updated, {unchanged} unchanged.".format(**result.as_dict()))
