"""The admin's view of rows the services own.

Services are the only writers (DESIGN.md): they keep the audit log and bump ``version`` for optimistic
locking. An admin edit did neither, so a later API PATCH carrying the old version silently overwrote it.
Those models are read-only in the admin (view, search, filter), and each page links to the bcrm page where
they are edited. Not an app of its own: plain classes the apps' admin modules use.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import NoReverseMatch, reverse


class ServiceOwnedAdmin(admin.ModelAdmin):
    #: URL name of the bcrm page where these rows are edited (through the services).
    real_page: str = "home"
    change_form_template = "admin/service_owned/change_form.html"
    change_list_template = "admin/service_owned/change_list.html"

    def has_add_permission(self, request, *args: Any) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def real_page_url(self) -> str:
        try:
            return reverse(self.real_page)
        except NoReverseMatch:
            return reverse("home")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "real_page_url": self.real_page_url()}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "real_page_url": self.real_page_url()}
        return super().changelist_view(request, extra_context)


class ServiceOwnedInline(admin.TabularInline):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
