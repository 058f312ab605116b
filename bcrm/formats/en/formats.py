"""English number formats: Django's own, stated here so both languages group thousands the same way."""

from django.conf.locale.en.formats import *  # noqa: F403

DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
