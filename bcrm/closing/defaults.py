"""The checklist templates bcrm starts with, per sector (editable once in the database): (category, condition,
days before close the item is due). Stored as English codes, translated when shown (bcrm.core.texts.shipped)."""

from __future__ import annotations

from django.utils.translation import gettext_noop

COMMON = [
    ("corporate", gettext_noop("Constitutional documents and board resolutions of the borrower"), 30),
    ("corporate", gettext_noop("KYC documents of the sponsors and the borrower"), 45),
    ("finance_docs", gettext_noop("Facility agreement signed"), 7),
    ("finance_docs", gettext_noop("Intercreditor agreement signed"), 7),
    ("security", gettext_noop("Share pledge and account pledges perfected"), 5),
    ("insurance", gettext_noop("Insurance certificates and broker's letter"), 10),
    ("opinions", gettext_noop("Legal opinions (lenders' counsel, local counsel)"), 3),
    ("financial", gettext_noop("Base-case financial model audited"), 21),
    ("financial", gettext_noop("Equity contribution evidenced"), 5),
]

BY_SECTOR = {
    "energy": [
        ("permits", gettext_noop("Generation licence and grid connection agreement"), 30),
        ("contracts", gettext_noop("Power purchase agreement signed and effective"), 21),
        ("technical", gettext_noop("Lenders' technical adviser report"), 21),
        ("technical", gettext_noop("Environmental and social impact assessment approved"), 30),
    ],
    "transport": [
        ("contracts", gettext_noop("Concession agreement signed and effective"), 21),
        ("technical", gettext_noop("Traffic study by an independent adviser"), 30),
        ("permits", gettext_noop("Land acquisition and right-of-way certificates"), 30),
    ],
    "water": [
        ("contracts", gettext_noop("Water purchase agreement signed"), 21),
        ("permits", gettext_noop("Abstraction and discharge permits"), 30),
    ],
}

TEMPLATE_NAME = gettext_noop("Conditions precedent: %(sector)s")


def default_items(sector: str) -> list[tuple[str, str, int]]:
    return COMMON + BY_SECTOR.get(sector, [])
