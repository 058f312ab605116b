"""Relationship strength (bcrm.stats.relationship): the documented formula, its aggregation from one
row per interaction or contact, its monotonicity (hypothesis) and bad configuration."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.stats import ModelError
from bcrm.stats.relationship import (
    COMPONENTS,
    DEFAULT_RELATIONSHIP_CONFIG,
    contact_seniority,
    interaction_depth,
    relationship_strength,
    validate_relationship_config,
)

KINDS = list(DEFAULT_RELATIONSHIP_CONFIG["kind_weights"])
LEVELS = list(DEFAULT_RELATIONSHIP_CONFIG["seniority_weights"])
amount = st.floats(0, 1e4, allow_nan=False)


def strength(**values) -> float:
    columns: dict[str, Any] = {k: [v] for k, v in values.items()}
    return float(relationship_strength(**columns).strength[0])


def test_formula_by_hand():
    cfg = DEFAULT_RELATIONSHIP_CONFIG
    values = {"depth": 10.0, "joint_deals": 2.0, "years": 4.0, "seniority": 6.0, "frameworks": 1.0}
    expected = 100 * sum(cfg["weights"][k] * (1 - math.exp(-v / cfg["saturation"][k])) for k, v in values.items()) \
        / sum(cfg["weights"].values())
    assert strength(**values) == pytest.approx(expected)
    result = relationship_strength(**{k: [v] for k, v in values.items()})
    assert result.completeness[0] == pytest.approx(1.0)
    assert result.components["joint_deals"][0] == pytest.approx(1 - math.exp(-2 / 3))


def test_interaction_depth_decays_by_half_life_and_weighs_kinds():
    depth = interaction_depth([0, 0, 1, 2], [0, 12, 24, 6], ["senior_meeting", "email", "meeting", "call"], 4)
    assert depth[0] == pytest.approx(5.0 + 0.25 * 0.5)
    assert depth[1] == pytest.approx(2.0 * 0.25)
    assert depth[2] == pytest.approx(1.0 * 0.5 ** 0.5)
    assert depth[3] == 0.0
    # a future date counts as today; a custom half-life and kind weight are used
    custom = interaction_depth([0], [-3], ["call"], 1, config={"half_life_months": 6, "kind_weights": {"call": 4}})
    assert custom.tolist() == [4.0]


def test_seniority_of_contacts():
    score = contact_seniority([0, 0, 1, 1, 1], ["board", "staff", "c_level", "middle", "middle"], 3)
    assert score.tolist() == pytest.approx([3.1, 2.6, 0.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(0, 120, allow_nan=False), st.sampled_from(KINDS)),
                max_size=60))
def test_bincount_aggregation_equals_a_loop(rows):
    client = np.array([r[0] for r in rows], dtype=np.int64)
    months = np.array([r[1] for r in rows], dtype=float)
    kinds = [r[2] for r in rows]
    depth = interaction_depth(client, months, kinds, 5)
    loop = np.zeros(5)
    for c, m, k in rows:
        loop[c] += DEFAULT_RELATIONSHIP_CONFIG["kind_weights"][k] * 0.5 ** (m / 12)
    np.testing.assert_allclose(depth, loop, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.fixed_dictionaries(dict.fromkeys(COMPONENTS, amount)), st.sampled_from(COMPONENTS),
       st.floats(0, 1e3, allow_nan=False))
def test_more_of_any_component_never_lowers_the_strength(values, which, extra):
    before = strength(**values)
    after = strength(**{**values, which: values[which] + extra})
    assert 0 <= before <= 100 and 0 <= after <= 100
    assert after >= before - 1e-9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 120, allow_nan=False), st.sampled_from(KINDS)), max_size=20),
       st.floats(0, 120, allow_nan=False), st.sampled_from(KINDS), st.floats(0, 60, allow_nan=False))
def test_more_recent_more_senior_and_more_interactions_never_lower_depth(rows, months, kind, sooner):
    months_list = [r[0] for r in rows]
    kinds = [r[1] for r in rows]
    base = interaction_depth([0] * len(rows), months_list, kinds, 1)[0]
    added = interaction_depth([0] * (len(rows) + 1), [*months_list, months], [*kinds, kind], 1)[0]
    assert added >= base
    recent = interaction_depth([0] * (len(rows) + 1), [*months_list, max(months - sooner, 0)], [*kinds, kind], 1)[0]
    assert recent >= added - 1e-12
    senior = interaction_depth([0] * (len(rows) + 1), [*months_list, months], [*kinds, "senior_meeting"], 1)[0]
    assert senior >= added - 1e-12


def test_missing_components_are_left_out_not_zero():
    result = relationship_strength(depth=[10.0, 10.0], joint_deals=[np.nan, 0.0], years=None)
    cfg = DEFAULT_RELATIONSHIP_CONFIG
    only_depth = 100 * (1 - math.exp(-10 / cfg["saturation"]["depth"]))
    assert result.strength[0] == pytest.approx(only_depth)
    assert result.strength[1] < result.strength[0]             # a real 0 deals counts, a missing one does not
    assert result.missing["joint_deals"].tolist() == [True, False]
    assert result.missing["years"].all()
    total = sum(cfg["weights"].values())
    assert result.completeness.tolist() == pytest.approx([0.30 / total, 0.55 / total])
    assert np.isnan(relationship_strength(years=[np.nan]).strength[0])


@pytest.mark.parametrize("call, words", [
    (lambda: relationship_strength(), "at least one component"),
    (lambda: relationship_strength(depth=[1.0], years=[1.0, 2.0]), "lengths differ"),
    (lambda: relationship_strength(depth=[-1.0]), "must not be negative"),
    (lambda: relationship_strength(depth=["a lot"]), "must be numbers"),
    (lambda: interaction_depth([0], [1.0], ["lunch"], 1), "Unknown interaction kinds: lunch"),
    (lambda: interaction_depth([3], [1.0], ["call"], 2), "from 0 to 1"),
    (lambda: interaction_depth([0], [np.nan], ["call"], 1), "finite number of months"),
    (lambda: contact_seniority([0], ["intern"], 1), "Unknown seniority levels"),
    (lambda: validate_relationship_config({"half_life_months": 0}), "above 0"),
    (lambda: validate_relationship_config({"weights": {"depth": -1}}), "must not be negative"),
    (lambda: validate_relationship_config({"weights": {"charm": 1}}), "Unknown components"),
    (lambda: validate_relationship_config({"weights": dict.fromkeys(COMPONENTS, 0)}), "weight above 0"),
    (lambda: validate_relationship_config({"mood": 1}), "Unknown parts"),
    (lambda: validate_relationship_config({"saturation": {"years": "long"}}), "must be a number"),
])
def test_bad_input_and_configuration(call, words):
    with pytest.raises(ModelError, match=words) as info:
        call()
    assert info.value.template % info.value.params == str(info.value)


def test_partial_config_overrides_merge_with_defaults():
    cfg = validate_relationship_config({"weights": {"frameworks": 0.5}})
    assert cfg["weights"]["frameworks"] == 0.5 and cfg["weights"]["depth"] == 0.30
    assert cfg["kind_weights"] == DEFAULT_RELATIONSHIP_CONFIG["kind_weights"]


def test_the_default_configuration_weighs_every_interaction_kind():
    """A completed playbook step logs a plan review, a KYC review, a due-diligence review or a data request;
    a kind without a weight stopped the relationship features (and the data-quality page) for everyone."""
    from bcrm.engagement.choices import InteractionKind
    from bcrm.stats.relationship import DEFAULT_RELATIONSHIP_CONFIG

    assert set(InteractionKind.values) <= set(DEFAULT_RELATIONSHIP_CONFIG["kind_weights"])
