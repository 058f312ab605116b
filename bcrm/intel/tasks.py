"""Scheduled syncs: the worker syncs each active mailbox and calendar once an interval (BCRM_MAIL_SYNC_MINUTES)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from bcrm.intel.models import ConnectedAccount


@task()
def sync_account(account_id: int) -> int:
    from bcrm.intel import sources

    account = ConnectedAccount.objects.select_related("user").filter(pk=account_id, active=True).first()
    if account is None:
        return 0
    return sources.sync_account(account).new


def due_syncs() -> list[str]:
    minutes = settings.BCRM_MAIL_SYNC_MINUTES
    if minutes <= 0:
        return []
    now = timezone.now()
    before = now - dt.timedelta(minutes=minutes)
    due = ConnectedAccount.objects.filter(active=True).filter(
        Q(last_sync_at__isnull=True) | Q(last_sync_at__lt=before))
    names = []
    for account in due:
        # Mark it now so the next tick does not enqueue it again while the sync runs.
        if ConnectedAccount.objects.filter(pk=account.pk, last_sync_at=account.last_sync_at).update(
                last_sync_at=now):
            sync_account.enqueue(account.pk)
            names.append(f"{account.kind} sync {account.pk}")
    return names
