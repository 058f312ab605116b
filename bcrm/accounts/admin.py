from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from bcrm.accounts.models import ApiToken, Team, TeamMembership
from bcrm.accounts.security import user_unlock
from bcrm.accounts.twofactor import two_factor_reset

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


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "created_at", "last_used_at"]
    list_select_related = ["user"]
