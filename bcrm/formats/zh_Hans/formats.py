"""Simplified Chinese number formats for a finance audience: Django's own zh_Hans formats group nothing
(``15388260``); bank and fund readers expect comma thousands (``15,388,260``), as in English."""

from django.conf.locale.zh_Hans.formats import *  # noqa: F403

DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
