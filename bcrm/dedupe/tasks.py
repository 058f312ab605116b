"""Background work: a duplicate scan queued from the page or the API (django-tasks)."""

from __future__ import annotations

from django_tasks import task

from bcrm.dedupe.models import DuplicateScan


@task()
def scan_duplicates(scan_id: int) -> int:
    """Run the queued scan ``scan_id``; returns the number of candidate groups found."""
    from bcrm.dedupe.services import duplicate_scan

    scan = DuplicateScan.objects.get(pk=scan_id)
    return duplicate_scan(entity=scan.entity, scan=scan).groups
