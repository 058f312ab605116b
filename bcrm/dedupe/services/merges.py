"""Merging duplicates: every related row moves to the survivor and the others are deleted, in one transaction,
or with ``preview=True`` the plan only says what would happen."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_delete, can_edit_organization, require
from bcrm.audit.services import audit_record
from bcrm.core.errors import Conflict, InvalidInput, NotFound
from bcrm.core.services import snapshot, validate_and_save
from bcrm.dedupe import selectors
from bcrm.dedupe.merging import (
    DEMOTE,
    KEEP_SURVIVOR,
    Clash,
    FieldChange,
    FieldRules,
    RelationMove,
    count_moves,
    display_value,
    find_clashes,
    merge_relations,
    merged_values,
)
from bcrm.dedupe.models import (
    Entity,
)
from bcrm.dedupe.services.groups import _after_merge, _ids, _organizations_of, _recheck_contacts
from bcrm.parties.choices import KycStatus
from bcrm.parties.models import Contact, Organization
from bcrm.parties.services import organization_search_refresh

log = logging.getLogger(__name__)


@dataclass
class MergePlan:
    """What a merge does (the preview), and after ``merged`` is True, what it did."""

    entity: str
    survivor: Any
    others: list[Any]
    fields: list[FieldChange]
    moves: list[RelationMove]
    clashes: list[Clash]
    notes: str = ""
    can_merge: bool = False
    merged: bool = False
    values: dict[str, tuple[Any, int]] = field(default_factory=dict, repr=False)

    @property
    def conflicts(self) -> list[Clash]:
        return [c for c in self.clashes if c.blocking]

    @property
    def resolutions(self) -> list[Clash]:
        return [c for c in self.clashes if not c.blocking]

    @property
    def versions(self) -> dict[int, int]:
        return {obj.pk: obj.version for obj in [self.survivor, *self.others]}

    @property
    def active_moves(self) -> list[RelationMove]:
        return [m for m in self.moves if m.moved or m.dropped or m.demoted]

    def as_dict(self) -> dict[str, Any]:
        def record(obj) -> dict[str, Any]:
            return {"id": obj.pk, "label": str(obj), "version": obj.version}

        return {
            "entity": self.entity,
            "survivor": record(self.survivor),
            "others": [record(o) for o in self.others],
            "versions": {str(k): v for k, v in self.versions.items()},
            "fields": [{"field": c.name, "label": c.label, "before": c.before, "after": c.after, "source": c.source}
                       for c in self.fields],
            "relations": [{"relation": m.relation.label, "label": m.relation.verbose, "moved": m.moved,
                           "dropped": m.dropped, "demoted": m.demoted} for m in self.active_moves],
            "resolutions": [c.describe() for c in self.resolutions],
            "conflicts": [c.describe() for c in self.conflicts],
            "notes": self.notes,
            "can_merge": self.can_merge,
            "merged": self.merged,
        }


ORGANIZATION_RULES = FieldRules(
    skip=frozenset({"notes", "external_id", "search_text", "rating_score"}),
    together=(("rating_agency", "rating_grade"), ("kyc_status", "kyc_expires_on")),
    empty={"kyc_status": KycStatus.NOT_STARTED},
    any_true=frozenset({"sanctions_flag"}),
    earliest=frozenset({"relationship_since"}),
)
CONTACT_RULES = FieldRules(
    # Consent is the survivor's own: merging never invents a consent the survivor record did not give.
    skip=frozenset({"organization", "report_consent", "consent_given_at", "is_primary"}),
)


def _check_ids(survivor: int, others: Sequence[int]) -> None:
    if not others:
        raise InvalidInput(fields={"others": [_("Name at least one record to merge into the survivor.")]})
    if survivor in others:
        raise InvalidInput(fields={"others": [_("The survivor cannot also be merged away.")]})
    if len(set(others)) != len(others):
        raise InvalidInput(fields={"others": [_("A record is named twice.")]})


def _may_merge(actor, entity: str, records: Iterable[Any]) -> bool:
    if actor is None:
        return True
    return can_delete(actor) and all(can_edit_organization(actor, o) for o in _organizations_of(entity, records))


def _plan(entity: str, actor, survivor: Any, others: list[Any]) -> MergePlan:
    model = type(survivor)
    relations = merge_relations(model)
    other_ids = [o.pk for o in others]
    clashes: list[Clash] = []
    moves: list[RelationMove] = []
    for relation in relations:
        found = find_clashes(relation, survivor.pk, other_ids)
        clashes += found
        moves.append(count_moves(relation, survivor.pk, other_ids, found))
    rules = ORGANIZATION_RULES if entity == Entity.ORGANIZATIONS else CONTACT_RULES
    values = merged_values(model, survivor, others, rules)
    if entity == Entity.CONTACTS and not survivor.is_primary:
        donor = next((o for o in others if o.is_primary), None)
        if donor is not None:
            values["is_primary"] = (True, donor.pk)
    notes = ""
    if entity == Entity.ORGANIZATIONS:
        notes = "\n".join(_merge_note(o, values) for o in others)
        if survivor.external_id is None:
            donor = next((o for o in others if o.external_id), None)
            if donor is not None:
                values["external_id"] = (donor.external_id, donor.pk)
    changes = [
        FieldChange(name=name, label=str(capfirst(_field(model, name).verbose_name)),
                    before=display_value(model, name, getattr(survivor, name)),
                    after=display_value(model, name, value), source=source)
        for name, (value, source) in values.items()
    ]
    return MergePlan(entity=entity, survivor=survivor, others=others, fields=changes, moves=moves, clashes=clashes,
                     notes=notes, can_merge=_may_merge(actor, entity, [survivor, *others]), values=values)


def _field(model: type[models.Model], attname: str) -> models.Field:
    return next(f for f in model._meta.concrete_fields if f.attname == attname)


def _merge_note(other: Organization, values: dict[str, tuple[Any, int]]) -> str:
    parts = [f"#{other.pk} {other}"]
    if other.external_id and values.get("external_id", (None, None))[1] != other.pk:
        parts.append(_("external id %(id)s") % {"id": other.external_id})
    return _("Merged from %(record)s on %(date)s.") % {
        "record": ", ".join(parts), "date": timezone.localdate().isoformat()}


def _load(entity: str, actor, survivor_id: int, other_ids: list[int], *, lock: bool) -> tuple[Any, list[Any]]:
    ids = [survivor_id, *other_ids]
    visible = selectors.visible_records(actor=actor, entity=entity, ids=ids)
    if len(visible) != len(ids):
        raise NotFound()
    if lock:
        model: Any = selectors.entity_model(entity)
        locked: dict[int, Any] = {obj.pk: obj for obj in model.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        if len(locked) != len(ids):
            raise NotFound()
        for pk, obj in locked.items():  # keep what select_related fetched for labels and permissions
            if entity == Entity.CONTACTS:
                obj.organization = visible[pk].organization
        visible = locked
    return visible[survivor_id], [visible[pk] for pk in other_ids]


def _check_versions(records: list[Any], versions: dict[Any, Any] | None) -> None:
    if versions is None:
        return
    try:
        given = {int(k): int(v) for k, v in versions.items()}
    except (TypeError, ValueError):
        raise InvalidInput(fields={"versions": [_("Versions are whole numbers, by record id.")]}) from None
    missing = [r.pk for r in records if r.pk not in given]
    if missing:
        raise InvalidInput(fields={"versions": [_("The version of record %(ids)s is missing.") % {
            "ids": ", ".join(f"#{pk}" for pk in missing)}]})
    stale = [r for r in records if r.version != given[r.pk]]
    if stale:
        raise Conflict(_("%(records)s changed since you previewed the merge. Preview again.") % {
            "records": ", ".join(f"#{r.pk} {r}" for r in stale)})


def _merge(entity: str, *, actor, survivor: Any, others: Sequence[Any], preview: bool,
           versions: dict[Any, Any] | None) -> MergePlan:
    survivor_id, other_ids = _ids(survivor), [_ids(o) for o in others]
    _check_ids(survivor_id, other_ids)
    if preview:
        survivor_obj, other_objs = _load(entity, actor, survivor_id, other_ids, lock=False)
        _check_same_organization(entity, survivor_obj, other_objs)
        return _plan(entity, actor, survivor_obj, other_objs)
    survivor_obj, other_objs = _load(entity, actor, survivor_id, other_ids, lock=False)
    if not _may_merge(actor, entity, [survivor_obj, *other_objs]):
        require(False, _("Only a team lead or an administrator may merge records."))
    survivor_obj, other_objs = _load(entity, actor, survivor_id, other_ids, lock=True)
    _check_same_organization(entity, survivor_obj, other_objs)
    _check_versions([survivor_obj, *other_objs], versions)
    plan = _plan(entity, actor, survivor_obj, other_objs)
    if plan.conflicts:
        raise Conflict(
            _("The merge would break these rules. Fix them by hand, then preview again."),
            fields={"conflicts": [c.describe() for c in plan.conflicts]}, code="merge_conflict",
        )
    _execute(plan, actor)
    plan.merged = True
    return plan


def _check_same_organization(entity: str, survivor: Any, others: list[Any]) -> None:
    if entity != Entity.CONTACTS:
        return
    strangers = [o for o in others if o.organization_id != survivor.organization_id]
    if strangers:
        raise InvalidInput(fields={"others": [
            _("%(contact)s works at another organisation: only contacts of one organisation can be merged. "
              "Merge the organisations first if they are one client.") % {"contact": c} for c in strangers]})


def _bump(model: type[models.Model]) -> dict[str, Any]:
    names = {f.name for f in model._meta.concrete_fields}
    extra: dict[str, Any] = {}
    if "version" in names:
        extra["version"] = F("version") + 1
    if "updated_at" in names:
        extra["updated_at"] = timezone.now()
    return extra


def _execute(plan: MergePlan, actor) -> None:
    survivor, others = plan.survivor, plan.others
    model = type(survivor)
    other_ids = [o.pk for o in others]
    # 1. Clashes the policies resolve: the survivor's row keeps its place.
    for clash in plan.resolutions:
        loser_ids = [row.pk for row in clash.losers]
        rows = clash.relation.model._base_manager.filter(pk__in=loser_ids)
        if clash.policy == KEEP_SURVIVOR:
            rows.delete()
        elif clash.policy.startswith(DEMOTE):
            flag = clash.policy[len(DEMOTE):]
            if "version" in {f.name for f in clash.relation.model._meta.concrete_fields}:
                for row in rows:
                    audit_record(actor=actor, action="update", instance=row, changes={flag: [True, False]})
            rows.update(**{flag: False}, **_bump(clash.relation.model))
    # 2. Every relation moves to the survivor.
    moved: dict[str, int] = {}
    for move in plan.moves:
        relation = move.relation
        if relation.kind == "m2m":
            assert relation.target is not None
            count = 0
            for other in other_ids:
                have = relation.rows([survivor.pk]).values(relation.target.attname)
                relation.rows([other]).filter(**{f"{relation.target.attname}__in": have}).delete()
                count += relation.rows([other]).update(**{relation.field.attname: survivor.pk})
        else:
            count = relation.rows(other_ids).update(**{relation.field.attname: survivor.pk},
                                                    **_bump(relation.model))
        if count:
            moved[relation.label] = count
    # 3. The merged-away records end with a "deleted" entry that says where they went, then go.
    merged_records = []
    for other in others:
        values = snapshot(other)
        merged_records.append({"id": other.pk, "repr": str(other), "values": values})
        audit_record(actor=actor, action="delete", instance=other,
                     changes={**{k: [v, None] for k, v in values.items()}, "merged_into": [None, survivor.pk]})
    model._base_manager.filter(pk__in=other_ids).delete()
    # 4. The survivor takes the values it lacked, and its history records the merge.
    before = snapshot(survivor)
    for name, (value, _source) in plan.values.items():
        setattr(survivor, name, value)
    if plan.notes:
        survivor.notes = f"{survivor.notes.rstrip()}\n\n{plan.notes}".strip()
    survivor.version += 1
    validate_and_save(survivor)
    after = snapshot(survivor)
    audit_record(actor=actor, action="merge", instance=survivor, changes={
        "merged": {
            "ids": other_ids,
            "records": merged_records,
            "moved": moved,
            "dropped": {m.relation.label: m.dropped for m in plan.moves if m.dropped},
            "demoted": {m.relation.label: m.demoted for m in plan.moves if m.demoted},
            "resolutions": [c.describe() for c in plan.resolutions],
        },
        "fields": {k: [before.get(k), v] for k, v in after.items()
                   if before.get(k) != v and k not in {"updated_at", "version"}},
    })
    # 5. Search index and the duplicate lists.
    organization: Any = survivor if plan.entity == Entity.ORGANIZATIONS else survivor.organization
    organization_search_refresh(organization)
    _after_merge(plan.entity, survivor.pk, other_ids)
    if plan.entity == Entity.ORGANIZATIONS:
        _recheck_contacts(survivor.pk)
    log.info("merged %s %s into %s by %s", plan.entity, other_ids, survivor.pk, getattr(actor, "pk", "system"))


@transaction.atomic
def organization_merge(*, actor, survivor: Organization | int, others: Sequence[Organization | int],
                       preview: bool = False, versions: dict[Any, Any] | None = None) -> MergePlan:
    """Merge ``others`` into ``survivor``: every related row moves, the others are deleted.

    ``preview=True`` writes nothing and returns the plan: fields that change, rows that move per
    relation, clashes resolved by rule and conflicts that block. ``versions`` ({id: version}, as
    previewed) makes a record changed since then a Conflict. Only lead and admin merge (a merge
    deletes), and only records they may see.
    """
    return _merge(Entity.ORGANIZATIONS, actor=actor, survivor=survivor, others=others, preview=preview,
                  versions=versions)


@transaction.atomic
def contact_merge(*, actor, survivor: Contact | int, others: Sequence[Contact | int], preview: bool = False,
                  versions: dict[Any, Any] | None = None) -> MergePlan:
    """Merge contacts of one organisation into ``survivor``; same rules as ``organization_merge``."""
    return _merge(Entity.CONTACTS, actor=actor, survivor=survivor, others=others, preview=preview,
                  versions=versions)


def merge(*, entity: str, actor, survivor: Any, others: Sequence[Any], preview: bool = False,
          versions: dict[Any, Any] | None = None) -> MergePlan:
    entity = selectors.entity_or_error(entity)
    use = organization_merge if entity == Entity.ORGANIZATIONS else contact_merge
    return use(actor=actor, survivor=survivor, others=others, preview=preview, versions=versions)
