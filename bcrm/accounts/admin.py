from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from bcrm.accounts.models import ApiToken, Team, TeamMembership
from bcrm.accounts.security import user_unlock
from bcrm.accounts.services import access_audit, access_snapshot
from bcrm.accounts.twofactor import two_factor_reset
from bcrm.audit.models import AuditAction
from bcrm.audit.services import audit_record

User = get_user_model()


@admin.action(description=_("Unlock the selected users (clear failed sign-ins)"))
def unlock_users(modeladmin, request, queryset):
    for user in queryset:
        user_unlock(actor=request.user, username=user.get_username())
    count = queryset.count()
    modeladmin.message_user(request, ngettext("%(count)d user unlocked.", "%(count)d users unlocked.", count)
                            % {"count": count}, messages.SUCCESS)


@admin.action(description=_("Reset two-factor sign-in of the selected users (they enrol again)"))
def reset_two_factor(modeladmin, request, queryset):
    for user in queryset:
        two_factor_reset(actor=request.user, user=user)
    count = queryset.count()
    modeladmin.message_user(request, ngettext("Two-factor sign-in reset for %(count)d user.",
                                              "Two-factor sign-in reset for %(count)d users.", count)
                            % {"count": count}, messages.SUCCESS)


class BcrmUserAdmin(UserAdmin):
    actions = [unlock_users, reset_two_factor]

    def save_model(self, request, obj, form, change):
        # What the user could do before this form (groups are saved later, in save_related).
        request._bcrm_access_before = access_snapshot(obj if change else None)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        access_audit(actor=request.user, user=form.instance,
                     before=getattr(request, "_bcrm_access_before", access_snapshot(None)))


admin.site.unregister(User)
admin.site.register(User, BcrmUserAdmin)


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "name_local"]
    search_fields = ["name", "name_local"]
    inlines = [MembershipInline]

    def save_formset(self, request, form, formset, change):
        """Memberships added, changed or removed here are audited on each user, as through the services."""
        if formset.model is not TeamMembership:
            return super().save_formset(request, form, formset, change)
        team = form.instance
        before = {m.user_id: str(m.weekly_capacity_hours) for m in TeamMembership.objects.filter(team=team)}
        super().save_formset(request, form, formset, change)
        after = {m.user_id: str(m.weekly_capacity_hours) for m in TeamMembership.objects.filter(team=team)}
        for user in User.objects.filter(pk__in=set(before) | set(after)):
            old, new = before.get(user.pk), after.get(user.pk)
            if old != new:
                audit_record(actor=request.user, action=AuditAction.ACCESS, instance=user, changes={
                    "team": team.name, "member": [user.pk in before, user.pk in after],
                    "weekly_capacity_hours": [old, new]})


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "created_at", "last_used_at"]
    list_select_related = ["user"]
