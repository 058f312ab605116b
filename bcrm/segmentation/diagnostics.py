"""The split methods' diagnostics in words, for every door that shows them (the run page, the
``bcrm analyse split`` report). No models: the file analysis imports it without the database's apps."""

from __future__ import annotations

from django.utils.translation import gettext as _


def diagnostic_labels() -> dict[str, str]:
    """The split methods' diagnostics, in words; keys not listed here are shown as they are."""
    return {
        "n": _("Clients the method split"),
        "n_upper": _("Above the line"),
        "n_lower": _("Below the line"),
        "share_upper": _("Share of clients above"),
        "value_share_upper": _("Share of the total score above"),
        "mean_upper": _("Mean score above"),
        "mean_lower": _("Mean score below"),
        "within_ss": _("Within-class sum of squares"),
        "between_ss": _("Between-class sum of squares"),
        "goodness_of_variance_fit": _("Goodness of variance fit"),
        "tied_at_threshold": _("Clients tied at the line"),
        "requested": _("Clients requested"),
        "boundary_score": _("Score at the boundary"),
        "tied_at_boundary": _("Clients tied at the boundary"),
        "excluded_by_ties": _("Left out to keep ties together"),
        "added_by_ties": _("Added to keep ties together"),
        "minimal_count": _("Fewest clients reaching the share"),
        "target_value": _("Target total score"),
        "n_distinct": _("Distinct scores"),
        "information_gain": _("Information gain (bits)"),
        "entropy_before": _("Outcome entropy before (bits)"),
        "outcome_rate": _("Outcome rate"),
        "outcome_rate_upper": _("Outcome rate above"),
        "outcome_rate_lower": _("Outcome rate below"),
        "n_candidates": _("Thresholds tried"),
        "budget": _("Hours budget"),
        "cost": _("Hours per client"),
        "used": _("Hours used"),
        "gap": _("Optimality gap"),
        "exact": _("Exact solution"),
        "algorithm": _("Algorithm"),
        "value": _("Total score selected"),
        "upper_bound": _("Upper bound"),
        "q": "q", "k": "k", "p": "p", "threshold": _("Threshold"),
        "note": _("Note"),
        "held_by_hysteresis": _("Kept in class by hysteresis"),
        "ruled": _("Decided by a rule"),
        "mean_completeness": _("Mean evidence completeness"),
        "classified_by_method": _("Classified by the method"),
        "features_cached_seconds_ago": _("Features read from the cache (seconds ago)"),
    }
