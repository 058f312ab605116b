"""簿记与配售: the syndication book of a project's tranche (lines on the commitment ladder, coverage, history)
and its allocation when oversubscribed, with the allocation notices."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BookConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bcrm.book"
    label = "book"
    verbose_name = _("Syndication book")

    def ready(self) -> None:
        from bcrm.core import delivery

        delivery.register("allocation_notice", "bcrm.book.notices.NOTICE_MAIL")
