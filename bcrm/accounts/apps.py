from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "bcrm.accounts"
    verbose_name = _("Accounts and teams")

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from bcrm.accounts.security import (
            on_locked_out,
            on_logged_in,
            on_login_audit,
            on_login_failed_audit,
            on_logout_audit,
        )

        user_locked_out.connect(on_locked_out, dispatch_uid="bcrm.accounts.lockout_audit")
        user_logged_in.connect(on_logged_in, dispatch_uid="bcrm.accounts.session_clock")
        user_logged_in.connect(on_login_audit, dispatch_uid="bcrm.accounts.login_audit")
        user_logged_out.connect(on_logout_audit, dispatch_uid="bcrm.accounts.logout_audit")
        user_login_failed.connect(on_login_failed_audit, dispatch_uid="bcrm.accounts.login_failed_audit")
        from bcrm.accounts.twofactor import on_logged_in as two_factor_on_logged_in

        user_logged_in.connect(two_factor_on_logged_in, dispatch_uid="bcrm.accounts.two_factor")
