"""`bcrm audit verify|seal|checkpoint|export`: the audit trail's hash chain from the command line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from bcrm.audit import trail


def _moment(text: str) -> dt.datetime:
    """A date (midnight in the current time zone) or an ISO time with its offset."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"Not a date or time: {text!r} (give e.g. 2026-12-01 or 2026-12-01T08:00+08:00).") from None
    if timezone.is_naive(value):
        if len(text) > 10:
            raise CommandError(f"Give the time with its offset: {text!r}.")
        value = timezone.make_aware(value)
    return value


class Command(BaseCommand):
    help = ("Check, seal, sign and export the audit trail. `audit verify` exits 0 when the chain is intact and 1, "
            "naming the first broken entry, when it is not.")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="walk the hash chain and the signed checkpoints")
        verify.add_argument("--from", dest="since", type=_moment, help="start at the first entry from this date")
        verify.add_argument("--json", action="store_true", help="print the result as JSON")
        sub.add_parser("seal", help="put every entry not yet in the chain into it")
        sub.add_parser("checkpoint", help="seal, then sign the chain's end with the audit key")
        export = sub.add_parser("export", help="write entries with their positions and digests for a regulator")
        export.add_argument("file")
        export.add_argument("--from", dest="start", type=_moment)
        export.add_argument("--to", dest="end", type=_moment, help="up to, not including, this date")
        export.add_argument("--format", choices=["jsonl", "csv"], default=None,
                            help="default: from the file's extension (.csv), else JSON lines")

    def handle(self, *args, action, **options):
        if action == "verify":
            result = trail.verify(since=options["since"])
            if options["json"]:
                self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
            else:
                self.stdout.write(f"Checked {result.checked} entries (positions {result.first_position}–"
                                  f"{result.last_position}) and {result.checkpoints} signed checkpoints.")
                for finding in result.findings:
                    self.stderr.write(finding.message)
            if not result.ok:
                raise SystemExit(1)
            if not options["json"]:
                self.stdout.write("The audit trail is intact.")
        elif action == "seal":
            self.stdout.write(f"Sealed {trail.seal_pending()} entries.")
        elif action == "checkpoint":
            point = trail.checkpoint()
            self.stdout.write("The audit trail is empty." if point is None else
                              f"Signed the chain at position {point.position}: {point.digest}.")
        else:
            path = Path(options["file"])
            fmt = options["format"] or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
            try:
                count = trail.export(path, start=options["start"], end=options["end"], fmt=fmt)
            except OSError as exc:
                raise CommandError(f"Cannot write {path}: {exc.strerror or exc}") from exc
            self.stdout.write(f"Wrote {count} entries to {path}.")
