"""The explanations a run writes for every client (``Outcome.explanations_json_at``), assembled for a whole batch
at once: each client's text is the JSON of its top contributions (feature, value rounded to 4 places or null when
missing, contribution rounded to 4 places, in slot order, empty slots left out), its rule and its hysteresis flag;
a client with missing evidence gets its full ``explanation()``."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bcrm.segmentation.classify import Outcome

NAMES = ["committed_amount", "mail_strength", "senior_meetings", "tenure_years"]  # codes, as features are named
FLOATS = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e18, max_value=1e18)


@st.composite
def batches(draw):
    n = draw(st.integers(1, 40))
    features = draw(st.integers(1, len(NAMES)))
    slots = draw(st.integers(0, 3))
    names = NAMES[:features]
    index = draw(arrays(np.int64, (n, slots), elements=st.integers(-1, features - 1)))
    columns = {name: SimpleNamespace(values=draw(arrays(np.float64, n, elements=FLOATS)),
                                     missing=draw(arrays(np.bool_, n))) for name in names}
    reason = draw(arrays(np.bool_, n))
    fake = SimpleNamespace(
        feature_names=names, contrib_index=index,
        contrib_value=draw(arrays(np.float64, (n, slots), elements=FLOATS)),
        matrix=SimpleNamespace(columns=columns), reasons={"history": reason} if draw(st.booleans()) else {},
        ruled=draw(arrays(np.int64, n, elements=st.integers(-1, 4))), held=draw(arrays(np.bool_, n)),
    )
    fake.explanation = lambda i: {"m": ["history"], "client": i}
    rows = np.array(draw(st.lists(st.integers(0, n - 1), max_size=n)), dtype=np.int64)
    return fake, rows


@settings(max_examples=150, deadline=None)
@given(batches())
def test_each_clients_text_is_the_json_of_its_own_explanation(batch):
    fake, rows = batch
    texts = Outcome.explanations_json_at(fake, rows)
    assert len(texts) == rows.size
    for text, i in zip(texts, rows.tolist(), strict=True):
        data = json.loads(text)
        if fake.reasons and fake.reasons["history"][i]:
            assert data == {"m": ["history"], "client": i}  # the general path
            continue
        expected = {"c": [[fake.feature_names[j],
                           None if fake.matrix.columns[fake.feature_names[j]].missing[i]
                           else float(np.round(fake.matrix.columns[fake.feature_names[j]].values[i], 4)),
                           float(np.round(fake.contrib_value[i, s], 4))]
                          for s, j in enumerate(fake.contrib_index[i].tolist()) if j >= 0]}
        if fake.ruled[i] >= 0:
            expected["r"] = int(fake.ruled[i])
        if fake.held[i]:
            expected["k"] = 1
        assert data == expected
        assert text == json.dumps(data, separators=(",", ":"))  # compact
