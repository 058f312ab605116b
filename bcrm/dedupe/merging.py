"""What a merge would do, read from the models themselves: every relation, every clash, every field.

Nothing here writes. ``services.organization_merge`` / ``contact_merge`` build a ``MergePlan`` with
these functions (that plan is the preview), then carry it out.

Relations come from Django's model meta, so a model another app adds later is moved without a line
changed here: every foreign key and one-to-one pointing at the merged model (``_meta.related_objects``),
every many-to-many whether declared on the merged model (tags) or pointing at it (the contacts present
at an interaction).

Moving a row can break a unique rule: the duplicate already takes part in the same project in the same
role and tranche as the survivor, say. Every unique constraint, ``unique_together`` and unique field
that includes the pointer is checked on the rows of all merged records, and each clash is handled by
the rule's policy:

- ``refuse`` (the default, always safe): the merge is refused with the list; a person fixes those by hand;
- ``keep_survivor``: the survivor's row stays and the duplicate's is deleted (derived data, such as a
  segmentation run's result for the client, recomputed by the next run);
- ``demote:<field>``: the rule is conditional on a flag (one primary contact per organisation); the
  survivor's row keeps the flag, the others' are cleared.

A model may declare its own, ``merge_policies = {"<constraint or field name>": "keep_survivor"}``;
otherwise ``POLICIES`` below applies.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import Q, UniqueConstraint
from django.utils.text import capfirst
from django.utils.translation import gettext as _

REFUSE = "refuse"
KEEP_SURVIVOR = "keep_survivor"
DEMOTE = "demote:"

POLICIES: dict[str, str] = {
    "parties.Contact:contact_one_primary": "demote:is_primary",
    "segmentation.Assignment:assignment_unique": KEEP_SURVIVOR,
    "segmentation.ClientLabels:organization": KEEP_SURVIVOR,
}


@dataclass(frozen=True)
class Relation:
    """Rows of ``model`` whose ``field`` points at the merged record (for M2M: rows of the link table)."""

    model: type[models.Model]
    field: models.ForeignKey
    kind: str  # "fk" or "m2m"
    label: str  # "engagement.Interaction.organization": stable, for the audit and the API
    verbose: str
    target: models.ForeignKey | None = None  # M2M: the link table's other side

    def rows(self, pks: Sequence[int]) -> models.QuerySet:
        return self.model._base_manager.filter(**{f"{self.field.attname}__in": list(pks)})


def merge_relations(model: type[models.Model]) -> list[Relation]:
    """Every relation pointing at ``model`` that a merge must move, from every installed app."""
    relations: list[Relation] = []
    # Hidden relations too (a foreign key with related_name="+", e.g. a delivery's contact): a merge must move
    # every row that points at the duplicate, whether or not the model offers a way back.
    rel: Any
    for rel in model._meta.get_fields(include_hidden=True):
        if not (rel.is_relation and rel.auto_created and not rel.concrete):
            continue  # a field of the model itself, not a relation pointing at it
        related: Any = rel.related_model
        if not rel.many_to_many and related._meta.auto_created:
            continue  # the link table of a many-to-many: moved as that many-to-many
        if rel.many_to_many:
            through = rel.through  # a many-to-many rel (ManyToManyRel) has one
            if not through._meta.auto_created:
                continue  # an explicit link model: its own foreign key is listed as a one-to-many below
            m2m: Any = rel.field
            relations.append(Relation(
                model=through, kind="m2m", label=f"{related._meta.label}.{m2m.name}",
                field=through._meta.get_field(m2m.m2m_reverse_field_name()),
                target=through._meta.get_field(m2m.m2m_field_name()),
                verbose=str(related._meta.verbose_name_plural),
            ))
        else:
            fk = rel.field
            verbose = str(related._meta.verbose_name_plural)
            if fk.name != model._meta.model_name:
                verbose = f"{verbose} ({fk.verbose_name})"
            relations.append(Relation(model=related, field=fk, kind="fk",  # fk: a ForeignKey here
                                      label=f"{related._meta.label}.{fk.name}", verbose=verbose))
    for forward in model._meta.many_to_many:
        m2m = forward
        through = m2m.remote_field.through
        if not through._meta.auto_created:
            continue
        relations.append(Relation(
            model=through, kind="m2m", label=f"{model._meta.label}.{m2m.name}",
            field=through._meta.get_field(m2m.m2m_field_name()),
            target=through._meta.get_field(m2m.m2m_reverse_field_name()),
            verbose=str(m2m.verbose_name),
        ))
    return relations


@dataclass(frozen=True)
class UniqueRule:
    name: str
    fields: tuple[str, ...]
    condition: Q | None = None
    nulls_distinct: bool = True
    message: str = ""


def unique_rules(relation: Relation) -> list[UniqueRule]:
    """The unique rules that include the relation's pointer: the ones a move can break."""
    model, name = relation.model, relation.field.name
    rules: list[UniqueRule] = []
    if relation.field.unique:
        rules.append(UniqueRule(name=name, fields=(name,)))
    for together in model._meta.unique_together:
        if name in together:
            rules.append(UniqueRule(name="unique_together:" + ",".join(together), fields=tuple(together)))
    for constraint in model._meta.constraints:
        if isinstance(constraint, UniqueConstraint) and constraint.fields and name in constraint.fields:
            custom = constraint.violation_error_message != constraint.default_violation_error_message
            rules.append(UniqueRule(
                name=constraint.name, fields=tuple(constraint.fields), condition=constraint.condition,
                nulls_distinct=constraint.nulls_distinct is not False,
                message=str(constraint.violation_error_message) if custom else "",
            ))
    return rules


def policy_for(model: type[models.Model], rule: UniqueRule) -> str:
    declared = getattr(model, "merge_policies", None) or {}
    return declared.get(rule.name) or POLICIES.get(f"{model._meta.label}:{rule.name}", REFUSE)


@dataclass
class ClashRow:
    pk: Any
    owner: int  # the merged record the row belongs to now
    label: str


@dataclass
class Clash:
    """Rows that would break ``rule`` once they all point at the survivor."""

    relation: Relation
    rule: UniqueRule
    policy: str
    rows: list[ClashRow]  # the one kept first

    @property
    def kept(self) -> ClashRow:
        return self.rows[0]

    @property
    def losers(self) -> list[ClashRow]:
        return self.rows[1:]

    @property
    def blocking(self) -> bool:
        return not (self.policy == KEEP_SURVIVOR or self.policy.startswith(DEMOTE))

    def describe(self) -> str:
        rows = "; ".join(f"{row.label} (#{row.owner})" for row in self.rows)
        relation = capfirst(self.relation.verbose)
        if self.policy == KEEP_SURVIVOR:
            return _("%(relation)s: keeps %(kept)s, deletes the duplicate's %(rows)s.") % {
                "relation": relation, "kept": self.kept.label,
                "rows": "; ".join(row.label for row in self.losers)}
        if self.policy.startswith(DEMOTE):
            return _("%(relation)s: %(kept)s stays %(flag)s; %(rows)s no longer.") % {
                "relation": relation, "kept": self.kept.label,
                "flag": self._flag_label(), "rows": "; ".join(row.label for row in self.losers)}
        message = self.rule.message or _("the same record twice")
        return _("%(relation)s: %(message)s — %(rows)s. Change or delete one of them, then preview again.") % {
            "relation": relation, "message": message.rstrip("."), "rows": rows}

    def _flag_label(self) -> str:
        meta: Any = self.relation.model._meta
        return str(meta.get_field(self.policy[len(DEMOTE):]).verbose_name)


def find_clashes(relation: Relation, survivor: int, others: Sequence[int]) -> list[Clash]:
    if relation.kind != "fk":
        return []  # link tables: a repeated link is simply dropped
    order = {pk: i for i, pk in enumerate([survivor, *others])}
    clashes: list[Clash] = []
    for rule in unique_rules(relation):
        rows = relation.rows(list(order))
        if rule.condition is not None:
            rows = rows.filter(rule.condition)
        meta: Any = relation.model._meta
        rest = [meta.get_field(name).attname for name in rule.fields if name != relation.field.name]
        groups: dict[tuple, list[tuple[Any, int]]] = defaultdict(list)
        for pk, owner, *values in rows.values_list("pk", relation.field.attname, *rest):
            if rule.nulls_distinct and any(v is None for v in values):
                continue
            groups[tuple(values)].append((pk, owner))
        found = [sorted(g, key=lambda row: order[row[1]]) for g in groups.values() if len({o for _pk, o in g}) > 1]
        if not found:
            continue
        labels = {obj.pk: str(obj) for obj in relation.model._base_manager.filter(
            pk__in=[pk for g in found for pk, _owner in g])}
        policy = policy_for(relation.model, rule)
        for group in found:
            clashes.append(Clash(relation=relation, rule=rule, policy=policy,
                                 rows=[ClashRow(pk=pk, owner=owner, label=labels.get(pk, str(pk))) for pk, owner in group]))
    return clashes


@dataclass
class RelationMove:
    relation: Relation
    moved: int  # rows that will point at the survivor
    dropped: int = 0  # rows deleted: a repeated link, or a clash resolved by keeping the survivor's
    demoted: int = 0


def count_moves(relation: Relation, survivor: int, others: Sequence[int], clashes: list[Clash]) -> RelationMove:
    if relation.kind == "m2m":
        assert relation.target is not None
        have = set(relation.rows([survivor]).values_list(relation.target.attname, flat=True))
        moved = dropped = 0
        for other in others:
            for target in relation.rows([other]).values_list(relation.target.attname, flat=True):
                if target in have:
                    dropped += 1
                else:
                    have.add(target)
                    moved += 1
        return RelationMove(relation=relation, moved=moved, dropped=dropped)
    total = relation.rows(others).count()
    dropped = len({row.pk for c in clashes if c.policy == KEEP_SURVIVOR for row in c.losers if row.owner != survivor})
    demoted = len({row.pk for c in clashes if c.policy.startswith(DEMOTE) for row in c.losers})
    return RelationMove(relation=relation, moved=total - dropped, dropped=dropped, demoted=demoted)


# ---------------------------------------------------------------------------------------------------
# Fields


@dataclass
class FieldChange:
    name: str
    label: str
    before: str
    after: str
    source: int  # the merged record the new value comes from


@dataclass
class FieldRules:
    """How the survivor's fields are completed from the others'. The survivor's values win; an empty
    survivor field is filled from the first other that has it, except where a rule says otherwise."""

    skip: frozenset[str]
    together: tuple[tuple[str, ...], ...] = ()  # filled as a unit when the first is empty
    empty: dict[str, Any] = field(default_factory=dict)  # a value that counts as empty besides None/""
    any_true: frozenset[str] = frozenset()  # a flag set on any record stays set (a sanctions hit)
    earliest: frozenset[str] = frozenset()  # the earliest date wins (relationship since)


def _is_empty(value: Any, rules: FieldRules, name: str) -> bool:
    if value is None or value == "":
        return True
    if getattr(value, "code", None) == "":  # django-countries' empty Country
        return True
    return name in rules.empty and value == rules.empty[name]


def merged_values(model: type[models.Model], survivor: models.Model, others: Sequence[models.Model],
                  rules: FieldRules) -> dict[str, tuple[Any, int]]:
    """{attname: (new value, source record id)} for the survivor's fields that change."""
    changes: dict[str, tuple[Any, int]] = {}
    fields = {f.name: f for f in model._meta.concrete_fields if f.editable and not f.primary_key}
    grouped = {name for group in rules.together for name in group}

    def value(obj: models.Model, name: str) -> Any:
        return getattr(obj, fields[name].attname)

    for group in rules.together:
        if _is_empty(value(survivor, group[0]), rules, group[0]):
            donor = next((o for o in others if not _is_empty(value(o, group[0]), rules, group[0])), None)
            if donor is not None:
                for name in group:
                    if value(donor, name) != value(survivor, name):
                        changes[fields[name].attname] = (value(donor, name), donor.pk)
    for name, f in fields.items():
        if name in rules.skip or name in grouped:
            continue
        mine = value(survivor, name)
        if name in rules.any_true:
            donor = next((o for o in others if value(o, name)), None)
            if not mine and donor is not None:
                changes[f.attname] = (True, donor.pk)
            continue
        if name in rules.earliest:
            dated = [(value(o, name), o.pk) for o in others if value(o, name) is not None]
            if dated:
                earliest = min(dated, key=lambda pair: pair[0])
                if mine is None or earliest[0] < mine:
                    changes[f.attname] = earliest
            continue
        if _is_empty(mine, rules, name):
            donor = next((o for o in others if not _is_empty(value(o, name), rules, name)), None)
            if donor is not None:
                changes[f.attname] = (value(donor, name), donor.pk)
    return changes


def display_value(model: type[models.Model], attname: str, value: Any,
                  labels: Callable[[models.Field, Any], str] | None = None) -> str:
    """A field value as a person reads it: choice labels, names of related rows, ISO dates."""
    f: Any = next(f for f in model._meta.concrete_fields if f.attname == attname)
    if value is None or value == "":
        return "—"
    if f.is_relation and f.related_model is not None:
        related: Any = f.related_model._default_manager.filter(pk=value).first()
        if related is None:
            return f"#{value}"
        if hasattr(related, "get_full_name"):
            return related.get_full_name() or related.get_username()
        return str(related)
    choices = dict(f.flatchoices)
    if choices:
        return str(choices.get(getattr(value, "code", value), value))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)
