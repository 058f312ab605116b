"""Properties of the tier policy (bcrm/playbooks/policy.py): the 64-entry table agrees with the rule on every
combination of labels, "all" and "any" mean what they say, and every kind of bad input is refused with the
path of the field at fault."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.core.errors import InvalidInput
from bcrm.playbooks.choices import AddOn
from bcrm.playbooks.policy import DEFAULT_RULES, LABEL_STATES, tier_for, tier_table, validate_rules
from bcrm.segmentation.choices import INSUFFICIENT, Dimension, labels_for

DIMENSIONS = list(Dimension.values)
CONDITIONS = [[d, label] for d in DIMENSIONS for label in labels_for(d)]
ADDON_CONDITIONS = [*CONDITIONS, ["*", INSUFFICIENT]]
DEDICATED_CONDITIONS = [c for c in CONDITIONS if c[1] != INSUFFICIENT] + [c for c in CONDITIONS if c[1] == INSUFFICIENT]

rules_strategy = st.fixed_dictionaries({
    "dedicated": st.fixed_dictionaries({
        "match": st.sampled_from(["any", "all"]),
        "when": st.lists(st.sampled_from(DEDICATED_CONDITIONS), min_size=1, max_size=4, unique_by=tuple),
    }),
    "addons": st.lists(st.fixed_dictionaries({
        "addon": st.sampled_from(AddOn.values), "when": st.sampled_from(ADDON_CONDITIONS)}), max_size=5),
})
labels_strategy = st.fixed_dictionaries({d: st.sampled_from(LABEL_STATES[d]) for d in DIMENSIONS})


def holds(cond, labels) -> bool:
    """The reading of a condition, written again independently of the module."""
    dimension, label = cond
    if dimension == "*":
        return label in labels.values()
    return labels[dimension] == label


@settings(max_examples=200, deadline=None)
@given(rules_strategy)
def test_the_table_agrees_with_the_rule_on_every_combination(raw):
    rules = validate_rules(raw)
    table = tier_table(rules)
    assert len(table) == 64
    for combo in itertools.product(*(LABEL_STATES[d] for d in DIMENSIONS)):
        labels = dict(zip(DIMENSIONS, combo, strict=True))
        assert table[combo] == tier_for(labels, rules)


@settings(max_examples=200, deadline=None)
@given(rules_strategy, labels_strategy)
def test_any_and_all_mean_what_they_say(raw, labels):
    rules = validate_rules(raw)
    when = rules["dedicated"]["when"]
    any_rules = {**rules, "dedicated": {"match": "any", "when": when}}
    all_rules = {**rules, "dedicated": {"match": "all", "when": when}}
    is_any = tier_for(labels, any_rules)[0] == "dedicated"
    is_all = tier_for(labels, all_rules)[0] == "dedicated"
    assert is_any == any(holds(c, labels) for c in when)
    assert is_all == all(holds(c, labels) for c in when)
    assert not is_all or is_any          # "all" never earns more than "any"
    addons = tier_for(labels, rules)[1]
    assert list(addons) == sorted({a["addon"] for a in rules["addons"] if holds(a["when"], labels)})


@settings(max_examples=100, deadline=None)
@given(rules_strategy)
def test_validation_is_idempotent(raw):
    once = validate_rules(raw)
    assert validate_rules(once) == once


def test_the_default_rules_are_valid_and_give_the_source_practice():
    rules = validate_rules(DEFAULT_RULES)
    assert tier_for({"value": "high", "risk": "low", "relationship": "ordinary"}, rules) == ("dedicated", ())
    assert tier_for({"value": "general", "risk": "high", "relationship": "strategic"}, rules) == (
        "dedicated", ("enhanced_dd", "kyc_refresh"))
    assert tier_for({"value": "insufficient", "risk": "", "relationship": ""}, rules) == (
        "standard", ("data_collection",))
    assert tier_for({"value": "", "risk": "", "relationship": ""}, rules) == ("standard", ())


def good() -> dict:
    return {"dedicated": {"match": "any", "when": [["value", "high"]]},
            "addons": [{"addon": "kyc_refresh", "when": ["risk", "high"]}]}


def with_change(path: str, value) -> dict:
    raw = good()
    target = raw
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return raw


BAD = [
    ("dedicated", None, "dedicated"),
    ("dedicated.match", "most", "dedicated.match"),
    ("dedicated.when", [], "dedicated.when"),
    ("dedicated.when", "value=high", "dedicated.when"),
    ("dedicated.when.0", ["value"], "dedicated.when.0"),
    ("dedicated.when.0", ["value", 1], "dedicated.when.0"),
    ("dedicated.when.0", ["size", "high"], "dedicated.when.0"),
    ("dedicated.when.0", ["value", "strategic"], "dedicated.when.0"),
    ("dedicated.when.0", ["*", "insufficient"], "dedicated.when.0"),
    ("dedicated.when.0", ["*", "high"], "dedicated.when.0"),
    ("addons", {"addon": "kyc_refresh"}, "addons"),
    ("addons.0", "kyc_refresh", "addons.0"),
    ("addons.0.addon", "golf_day", "addons.0.addon"),
    ("addons.0.when", ["risk", "low", "x"], "addons.0.when"),
    ("addons.0.when", ["risk", "strategic"], "addons.0.when"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD)
def test_each_kind_of_bad_input_is_refused_with_its_field_path(path, value, field):
    with pytest.raises(InvalidInput) as info:
        validate_rules(with_change(path, value))
    assert field in info.value.fields, info.value.fields


def test_a_condition_listed_twice_is_refused():
    raw = good()
    raw["dedicated"]["when"] = [["value", "high"], ["value", "high"]]
    with pytest.raises(InvalidInput) as info:
        validate_rules(raw)
    assert "dedicated.when.1" in info.value.fields


def test_a_policy_that_is_not_an_object_is_refused():
    for raw in (None, [], "dedicated", 3):
        with pytest.raises(InvalidInput):
            validate_rules(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12)
    | st.sampled_from(["value", "risk", "relationship", "*", "high", "insufficient", "any", "all", "kyc_refresh"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["dedicated", "addons", "match", "when", "addon", "x"]), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_is_either_valid_rules_or_an_invalid_input(raw):
    try:
        rules = validate_rules(raw)
    except InvalidInput:
        return
    assert len(tier_table(rules)) == 64
