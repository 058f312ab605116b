"""Duplicate detection and merge: the only code here that writes.

- ``duplicate_scan`` finds candidate pairs for every record of an entity and replaces the stored
  ones (one streaming pass building key indexes, see matching.py; no O(n²) comparison).
- ``duplicate_dismiss`` remembers "not a duplicate", so no later scan proposes the pair again.
- ``organization_merge`` / ``contact_merge`` move every related row to the survivor and delete the
  others, in one transaction, or with ``preview=True`` only say what they would do.
"""

from bcrm.dedupe.services.groups import duplicate_dismiss
from bcrm.dedupe.services.merges import (
    CONTACT_RULES,
    ORGANIZATION_RULES,
    MergePlan,
    contact_merge,
    merge,
    organization_merge,
)
from bcrm.dedupe.services.scan import duplicate_scan, duplicate_scan_request, find_pairs

# The package's public names; its modules: scan (candidate pairs, stored in bulk), groups (kept in step after a
# dismissal or a merge), merges (plan, preview and execution of a merge).
__all__ = [
    "duplicate_scan", "duplicate_scan_request", "find_pairs", "duplicate_dismiss", "MergePlan", "ORGANIZATION_RULES",
    "CONTACT_RULES", "organization_merge", "contact_merge", "merge",
]
