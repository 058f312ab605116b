"""Reference resolution for the importer: a row's organisation, project, team or user, given by bcrm id,
external id or name, looked up for the whole batch at once (one query per referenced entity, the answers
cached for the import), restricted to the organisations the actor may see."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from bcrm.accounts.models import Team
from bcrm.accounts.permissions import restrict_organizations
from bcrm.financing.models import Project
from bcrm.financing.walls import restrict_projects
from bcrm.parties.models import Organization

if TYPE_CHECKING:
    from bcrm.dataio.importer import Row
    from bcrm.dataio.specs import Column

REF_CACHE = 50_000


class ReferenceResolver:
    """Mixed into the importer: fills ``row.data[<attname>]`` of each reference column, or rejects the row."""

    actor: Any
    spec: Any
    fields_by_name: dict[str, Any]
    ref_groups: dict[str, list[Column]]
    ref_cache: dict[str, dict[tuple[str, Any], int | str]]
    org_info: dict[int, dict[str, Any]]
    _users: dict[str, int] | None
    _teams: dict[str, int] | None

    def resolve(self, rows: list[Row]) -> None:
        """References, strongest column first; each distinct value is looked up once per import (the
        answers are cached, up to ``REF_CACHE`` of them) and the misses of a batch in one query."""
        for target, columns in self.ref_groups.items():
            model_field = self.fields_by_name[target]
            ref = columns[0].ref
            ordered = [c for part in ("bcrm_id", "external_id", "name") for c in columns if c.ref_part == part]
            wanted: list[tuple[Row, str, Any]] = []
            for row in rows:
                choice = None
                values = row.values
                for column in ordered:
                    value = values.get(column.name)
                    if value is not None:
                        choice = (column.name, value)
                        break
                if choice is None:
                    if target in self.spec.required_refs:
                        row.reject(target, _("This field is required."))
                    elif any(c.name in row.values for c in columns):
                        row.data[model_field.attname] = None
                    continue
                wanted.append((row, choice[0], choice[1]))
            if not wanted:
                continue
            resolver = {"organization": self.resolve_organizations, "project": self.resolve_projects,
                        "team": self.resolve_teams, "user": self.resolve_users}[ref]  # type: ignore[index]
            cache = self.ref_cache.setdefault(str(ref), {})
            parts = {c.name: c.ref_part for c in columns}
            keys = [(parts[name], value) for _row, name, value in wanted]
            missing = list(dict.fromkeys(k for k in keys if k not in cache))
            if missing:
                if len(cache) + len(missing) > REF_CACHE:
                    cache.clear()
                    self.org_info.clear()
                cache.update(zip(missing, resolver(missing), strict=True))
            for (row, name, _value), key in zip(wanted, keys, strict=True):
                result = cache[key]
                if isinstance(result, int):
                    row.data[model_field.attname] = result
                else:
                    row.reject(name, result)

    def resolve_organizations(self, wanted: list[tuple[str, Any]]) -> list[int | str]:
        ids = {v for part, v in wanted if part == "bcrm_id"}
        texts = {str(v) for part, v in wanted if part != "bcrm_id"}
        names = {str(v).lower() for part, v in wanted if part == "name"}
        query = Q(pk__in=[])
        if ids:
            query |= Q(pk__in=ids)
        if texts:
            query |= Q(external_id__in=texts)
        if names:
            query |= Q(legal_lower__in=names) | Q(local_lower__in=names)
        queryset = restrict_organizations(
            self.actor,
            Organization.objects.alias(legal_lower=Lower("legal_name"), local_lower=Lower("local_name")).filter(query),
        ).values("id", "external_id", "legal_name", "local_name", "team_id", "relationship_manager_id")
        by_id, by_external = {}, {}
        by_legal: dict[str, list[int]] = defaultdict(list)
        by_local: dict[str, list[int]] = defaultdict(list)
        for org in queryset:
            self.org_info[org["id"]] = org
            by_id[org["id"]] = org["id"]
            if org["external_id"]:
                by_external[org["external_id"]] = org["id"]
            by_legal[org["legal_name"].lower()].append(org["id"])
            if org["local_name"]:
                by_local[org["local_name"].lower()].append(org["id"])
        results: list[int | str] = []
        for part, value in wanted:
            if part == "bcrm_id":
                results.append(by_id.get(value) or _("No organisation with bcrm ID %(id)s, or you may not see it.")
                               % {"id": value})
                continue
            text = str(value)
            if text in by_external:
                results.append(by_external[text])
                continue
            if part == "external_id":
                results.append(_("No organisation with external id “%(value)s”, or you may not see it.") % {"value": text})
                continue
            for index in (by_legal, by_local):
                matches = index.get(text.lower(), [])
                if len(matches) == 1:
                    results.append(matches[0])
                    break
                if len(matches) > 1:
                    results.append(_("%(n)s organisations are named “%(value)s”; give the external id or bcrm ID instead.")
                                   % {"n": len(matches), "value": text})
                    break
            else:
                results.append(_("No organisation “%(value)s” (by external id, legal or local name), or you may not see it.")
                               % {"value": text})
        return results

    def resolve_projects(self, wanted: list[tuple[str, Any]]) -> list[int | str]:
        ids = {v for part, v in wanted if part == "bcrm_id"}
        texts = {str(v) for part, v in wanted if part != "bcrm_id"}
        rows = restrict_projects(self.actor, Project.objects.filter(
            Q(pk__in=ids) | Q(external_id__in=texts) | Q(name__in=texts) | Q(local_name__in=texts)
        ), "pk").values_list("id", "external_id", "name", "local_name")
        by_id, by_external = {}, {}
        by_name: dict[str, list[int]] = defaultdict(list)
        by_local: dict[str, list[int]] = defaultdict(list)
        for pk, external_id, name, local_name in rows:
            by_id[pk] = pk
            if external_id:
                by_external[external_id] = pk
            by_name[name].append(pk)
            if local_name:
                by_local[local_name].append(pk)
        results: list[int | str] = []
        for part, value in wanted:
            if part == "bcrm_id":
                results.append(by_id.get(value) or _("No project with bcrm ID %(id)s.") % {"id": value})
                continue
            text = str(value)
            if text in by_external:
                results.append(by_external[text])
                continue
            if part == "external_id":
                results.append(_("No project with external id “%(value)s”.") % {"value": text})
                continue
            for index in (by_name, by_local):
                matches = index.get(text, [])
                if len(matches) == 1:
                    results.append(matches[0])
                    break
                if len(matches) > 1:
                    results.append(_("%(n)s projects are named “%(value)s”; give the external id or bcrm ID instead.")
                                   % {"n": len(matches), "value": text})
                    break
            else:
                results.append(_("No project “%(value)s” (by external id or name).") % {"value": text})
        return results

    def resolve_teams(self, wanted: list[tuple[str, Any]]) -> list[int | str]:
        if self._teams is None:
            self._teams = {}
            for pk, name, local in Team.objects.values_list("id", "name", "name_local"):
                self._teams[name.lower()] = pk
                if local:
                    self._teams.setdefault(local.lower(), pk)
        return [self._teams.get(str(v).lower()) or _("No team “%(value)s”.") % {"value": v} for _p, v in wanted]

    def resolve_users(self, wanted: list[tuple[str, Any]]) -> list[int | str]:
        """By username, e-mail or unique full name (“Wang Wei” or “王伟”); users are few, so all are read once."""
        if self._users is None:
            users: dict[str, int] = {}
            names: dict[str, list[int]] = defaultdict(list)
            for pk, username, email, first, last in get_user_model().objects.filter(is_active=True).values_list(
                    "id", "username", "email", "first_name", "last_name"):
                users[username.lower()] = pk
                if email:
                    names[email.lower()].append(pk)
                if first or last:
                    names[f"{first} {last}".strip().lower()].append(pk)
                    names[f"{last}{first}".lower()].append(pk)
                    names[f"{last} {first}".strip().lower()].append(pk)
            for key, pks in names.items():
                if len(set(pks)) == 1:
                    users.setdefault(key, pks[0])
            self._users = users
        return [self._users.get(str(v).lower()) or _("No user “%(value)s”.") % {"value": v} for _p, v in wanted]

    # -- 3. existing rows ------------------------------------------------------------------------
