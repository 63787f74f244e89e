"""The form decoder against stripe-python's own encoder."""

import urllib.parse

from hypothesis import given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode

from stripe_sandbox import forms

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
scalars = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, min_size=1, max_size=3) | st.dictionaries(names, inner, min_size=1, max_size=3),
    max_leaves=8,
)


def round_trip(params: dict) -> dict:
    body = urllib.parse.urlencode(list(_api_encode(params)))
    return forms.decode(urllib.parse.parse_qsl(body, keep_blank_values=True))


@settings(max_examples=60, deadline=None)  # the machine may be busy: no per-example deadline
@given(st.dictionaries(names.filter(lambda n: n != "metadata"), values, max_size=4))
def test_decodes_what_stripe_python_encodes(params):
    assert round_trip(params) == params


def test_metadata_keys_stay_strings():
    assert round_trip({"metadata": {"0": "a", "1": "b"}}) == {"metadata": {"0": "a", "1": "b"}}


def test_empty_brackets_append():
    pairs = [("expand[]", "a"), ("expand[]", "b"), ("x[y][]", "c")]
    assert forms.decode(pairs) == {"expand": ["a", "b"], "x": {"y": ["c"]}}


def test_malformed_key_is_refused():
    try:
        forms.decode([("a[b", "1")])
    except forms.FormError as error:
        assert error.param == "a[b"
    else:
        raise AssertionError("a[b was accepted")
