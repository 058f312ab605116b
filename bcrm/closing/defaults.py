"""The checklist templates bcrm starts with, per sector (editable once in the database): (category, condition,
days before close the item is due). Stored as English codes, translated when shown (bcrm.core.texts.shipped)."""

from __future__ import annotations

from django.utils.translation import gettext_noop as N_

COMMON = [
    ("corporate", N_("Constitutional documents and board resolutions of the borrower"), 30),
    ("corporate", N_("KYC documents of the sponsors and the borrower"), 45),
    ("finance_docs", N_("Facility agreement signed"), 7),
    ("finance_docs", N_("Intercreditor agreement signed"), 7),
    ("security", N_("Share pledge and account pledges perfected"), 5),
    ("insurance", N_("Insurance certificates and broker's letter"), 10),
    ("opinions", N_("Legal opinions (lenders' counsel, local counsel)"), 3),
    ("financial", N_("Base-case financial model audited"), 21),
    ("financial", N_("Equity contribution evidenced"), 5),
]

BY_SECTOR = {
    "energy": [
        ("permits", N_("Generation licence and grid connection agreement"), 30),
        ("contracts", N_("Power purchase agreement signed and effective"), 21),
        ("technical", N_("Lenders' technical adviser report"), 21),
        ("technical", N_("Environmental and social impact assessment approved"), 30),
    ],
    "transport": [
        ("contracts", N_("Concession agreement signed and effective"), 21),
        ("technical", N_("Traffic study by an independent adviser"), 30),
        ("permits", N_("Land acquisition and right-of-way certificates"), 30),
    ],
    "water": [
        ("contracts", N_("Water purchase agreement signed"), 21),
        ("permits", N_("Abstraction and discharge permits"), 30),
    ],
}

TEMPLATE_NAME = N_("Conditions precedent: %(sector)s")


def default_items(sector: str) -> list[tuple[str, str, int]]:
    return COMMON + BY_SECTOR.get(sector, [])
