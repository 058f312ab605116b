"""`bcrm dedupe`: find, scan, merge and dismiss probable duplicates from the command line."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from bcrm.accounts.services import user_get_by_username
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.dedupe import selectors, services
from bcrm.dedupe.matching import DEFAULT_MAX_BLOCK
from bcrm.dedupe.models import Entity

ENTITIES = Entity.values


class Command(BaseCommand):
    help = ("Probable duplicate organisations and contacts: `find` lists them (scanning first if never "
            "scanned), `scan` recomputes them, `merge SURVIVOR OTHER…` merges (or previews), "
            "`dismiss A B…` records that they are not duplicates.")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        find = sub.add_parser("find", help="list candidate groups, best first")
        find.add_argument("--entity", choices=ENTITIES, default=Entity.ORGANIZATIONS)
        find.add_argument("--json", action="store_true", help="one JSON document on standard output")
        find.add_argument("--limit", type=int, default=20, help="groups to show (default 20)")
        find.add_argument("--min-score", type=int, default=None)
        find.add_argument("--scan", action="store_true", help="scan afresh before listing")
        find.add_argument("--as", dest="as_user", default=None, help="list what USER may see (default: all)")

        scan = sub.add_parser("scan", help="recompute the candidates (a cron job's command)")
        scan.add_argument("--entity", choices=[*ENTITIES, "all"], default="all")
        scan.add_argument("--max-block", type=int, default=DEFAULT_MAX_BLOCK,
                          help="ignore keys shared by more records than this (default %(default)s)")

        merge = sub.add_parser("merge", help="merge OTHER records into SURVIVOR")
        merge.add_argument("survivor", type=int)
        merge.add_argument("others", type=int, nargs="+")
        merge.add_argument("--entity", choices=ENTITIES, default=Entity.ORGANIZATIONS)
        merge.add_argument("--preview", action="store_true", help="say what would happen; change nothing")
        merge.add_argument("--json", action="store_true")
        merge.add_argument("--as", dest="as_user", default=None,
                           help="act as USER, with their permissions (default: the operator, unrestricted)")

        dismiss = sub.add_parser("dismiss", help="record that these records are not duplicates")
        dismiss.add_argument("ids", type=int, nargs="+")
        dismiss.add_argument("--entity", choices=ENTITIES, default=Entity.ORGANIZATIONS)
        dismiss.add_argument("--as", dest="as_user", default=None)

    def handle(self, *args, action, **options):
        try:
            actor = user_get_by_username(options["as_user"]) if options.get("as_user") else None
            getattr(self, f"do_{action}")(actor=actor, **options)
        except ServiceError as exc:
            raise command_error(exc) from exc

    # -- find ---------------------------------------------------------------------------------------

    def do_find(self, *, actor, entity, json: bool, limit: int, min_score, scan: bool, **options):
        if scan or selectors.last_finished_scan(entity=entity) is None:
            self._scan(entity, DEFAULT_MAX_BLOCK, quiet=json)
        page, views = selectors.find_duplicates(actor=actor, entity=entity, page=1, page_size=max(1, min(limit, 500)),
                                                min_score=min_score)
        if json:
            from bcrm.dedupe.api import _group

            out = {"entity": entity, "count": page.count, "count_is_capped": page.count_is_capped,
                   "groups": [_group(v) for v in views]}
            self.stdout.write(_dumps(out))
            return
        if not views:
            self.stdout.write(f"No probable duplicate {entity}.")
            return
        more = "+" if page.count_is_capped else ""
        self.stdout.write(f"{page.count:,}{more} group(s) of probable duplicate {entity}; showing {len(views)}.")
        for view in views:
            self.stdout.write(f"\ngroup {view.group.key}  score {view.score}  ({len(view.members)} records)")
            for member in view.members:
                self.stdout.write(f"  #{member.record.pk:<10} {member.record}")
            for pair in view.pairs:
                reasons = "; ".join(r["message"] for r in pair.reasons) or "no longer matches (changed since the scan)"
                self.stdout.write(f"    #{pair.low} ~ #{pair.high} ({pair.score}): {reasons}")
            ids = " ".join(str(pk) for pk in view.ids)
            self.stdout.write(f"  merge: bcrm dedupe merge {ids} --entity {entity} --preview")

    # -- scan ---------------------------------------------------------------------------------------

    def do_scan(self, *, actor, entity, max_block: int, **options):
        for one in (ENTITIES if entity == "all" else [entity]):
            self._scan(one, max_block, quiet=False)

    def _scan(self, entity: str, max_block: int, *, quiet: bool) -> None:
        start = time.perf_counter()

        def progress(message: str) -> None:
            if not quiet:
                self.stderr.write(f"  {time.perf_counter() - start:6.1f}s  {message}")

        scan = services.duplicate_scan(entity=entity, max_block=max_block, progress=progress)
        if not quiet:
            self.stdout.write(
                f"Scanned {scan.records:,} {entity} in {time.perf_counter() - start:.1f} s: "
                f"{scan.pairs:,} candidate pairs in {scan.groups:,} groups"
                + (f"; {scan.skipped_blocks:,} keys shared by more than {max_block} records ignored."
                   if scan.skipped_blocks else "."))

    # -- merge --------------------------------------------------------------------------------------

    def do_merge(self, *, actor, survivor: int, others: list[int], entity, preview: bool, json: bool, **options):
        if not preview:
            # Refuse early, with the list, rather than half-way: the preview is the merge's first step.
            plan = services.merge(entity=entity, actor=actor, survivor=survivor, others=others, preview=True)
            if plan.conflicts:
                raise CommandError("The merge would break these rules; fix them by hand first:\n"
                                   + "\n".join(f"  {c.describe()}" for c in plan.conflicts))
            plan = services.merge(entity=entity, actor=actor, survivor=survivor, others=others,
                                  versions=plan.versions)
        else:
            plan = services.merge(entity=entity, actor=actor, survivor=survivor, others=others, preview=True)
        if json:
            self.stdout.write(_dumps(plan.as_dict()))
            return
        data = plan.as_dict()
        head = "Merged" if plan.merged else "Preview: would merge"
        names = ", ".join(f"#{o['id']} {o['label']}" for o in data["others"])
        self.stdout.write(f"{head} {names} into #{data['survivor']['id']} {data['survivor']['label']}.")
        if data["fields"]:
            self.stdout.write("Fields:")
            for change in data["fields"]:
                self.stdout.write(f"  {change['label']}: {change['before']} → {change['after']} (from #{change['source']})")
        if data["relations"]:
            self.stdout.write("Rows:")
            for move in data["relations"]:
                extra = "".join([f", {move['dropped']} dropped as repeats" if move["dropped"] else "",
                                 f", {move['demoted']} demoted" if move["demoted"] else ""])
                self.stdout.write(f"  {move['label']}: {move['moved']} moved{extra}")
        for line in data["resolutions"]:
            self.stdout.write(f"  resolved: {line}")
        for line in data["conflicts"]:
            self.stdout.write(f"  CONFLICT: {line}")
        if plan.conflicts:
            self.stdout.write("The merge is blocked until these are fixed by hand.")
        elif not plan.merged and not plan.can_merge:
            self.stdout.write("You may preview but not merge these (only a team lead or an administrator merges).")

    # -- dismiss ------------------------------------------------------------------------------------

    def do_dismiss(self, *, actor, ids: list[int], entity, **options):
        dismissals = services.duplicate_dismiss(actor=actor, entity=entity, ids=ids)
        for d in dismissals:
            self.stdout.write(f"#{d.low_id} and #{d.high_id} are not duplicates: remembered.")


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)
