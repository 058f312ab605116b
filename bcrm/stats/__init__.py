"""Statistical models behind the three dimensions: value, risk and relationship.

Pure NumPy / SciPy / scikit-learn / optbinning — no Django — so the segmentation engine, the
``bcrm analyse clv|scorecard`` commands, the API, the tests and the benchmarks all call the same code:

* :mod:`bcrm.stats.clv` — customer lifetime value: the BG/NBD model of repeat transactions (Fader,
  Hardie & Lee 2005) and the Gamma-Gamma model of their value, fitted by maximum likelihood, with
  per-customer predictions and discounted lifetime value; plus the RFM summary of a transaction log.
* :mod:`bcrm.stats.scorecard` — credit-risk scorecards: a fitted one (optimal binning, weight of
  evidence, logistic regression, cross-validated AUC/KS/Gini, points) and an expert points scorecard
  configured by compliance.
* :mod:`bcrm.stats.relationship` — the relationship-strength formula.

Every bad input raises :class:`ModelError` (a ``ValueError``) whose message is an English sentence a
user can act on; its ``template``/``params`` pair lets a door show it in the user's language:
``gettext(exc.template) % exc.params``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ModelError", "gettext_noop"]


def gettext_noop(message: str) -> str:
    """Mark ``message`` for translation without translating it (this package must not import Django)."""
    return message


class ModelError(ValueError):
    """Input a model cannot use, or a fit that failed; ``str(exc)`` is an English sentence.

    ``template`` (a ``%(name)s`` format string, marked for translation) and ``params`` let a door show
    the message in the user's language: ``gettext(exc.template) % exc.params``.
    """

    def __init__(self, template: str, **params: Any) -> None:
        self.template = template
        self.params = params
        self.message = template % params
        super().__init__(self.message)
