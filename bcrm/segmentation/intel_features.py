"""The relationship-strength feature from captured mail and calendars (:mod:`bcrm.intel`).

``mail_strength`` is the 0–100 formula of :mod:`bcrm.intel.strength` over every interaction (logged,
imported, captured) in the two years to the as-of date. It is *missing* — "unknown", not "weak" — for a
client whose team (or relationship manager) has not connected a mailbox: without mail coverage a low score
says only that nobody logged much, so the thin-data rules (completeness, required features) count it as
unknown evidence.
"""

from __future__ import annotations

import numpy as np
from django.utils.translation import gettext_lazy as _

from bcrm.intel.selectors import mail_connected_organizations, organization_strengths
from bcrm.segmentation.features import Feature, FeatureValues, Population, feature


@feature(
    Feature("mail_strength", "mail_strength", _("Relationship strength (mail and meetings)"), "score",
            _("0–100 from recency (half-life 90 days), frequency, two-way balance, breadth and seniority of "
              "meetings, over logged and captured interactions; unknown when the client's team has not "
              "connected a mailbox.")),
)
def mail_strength_family(pop: Population) -> dict[str, FeatureValues]:
    n = pop.size
    values = FeatureValues.empty(n)
    covered = mail_connected_organizations()
    if not covered or not n:
        return {"mail_strength": values}
    inside = np.isin(pop.ids, np.fromiter(covered, dtype=np.int64, count=len(covered)))
    values.values[inside] = 0.0
    values.missing[inside] = False
    scores = organization_strengths(pop.end)  # every client's: an IN list of the population would be longer
    ids = np.fromiter(scores, dtype=np.int64, count=len(scores))
    known = np.isin(ids, pop.ids)
    if known.any():
        positions = np.searchsorted(pop.ids, ids[known])
        score = np.fromiter((s.score for s in scores.values()), dtype=np.float64, count=len(scores))[known]
        values.values[positions] = np.where(inside[positions], score, np.nan)
    return {"mail_strength": values}
