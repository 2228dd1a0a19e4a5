"""Hypothesis strategies for the values a JSON log line can hold (tests of reading and
showing them)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
"""Including integers past 64 bits, NaN and the infinities, which json reads and writes."""


def json_values(*, max_size: int, max_leaves: int) -> st.SearchStrategy[Any]:
    """Scalars, and lists and objects of them, nested."""
    return st.recursive(
        JSON_SCALARS,
        lambda inner: (
            st.lists(inner, max_size=max_size)
            | st.dictionaries(st.text(), inner, max_size=max_size)
        ),
        max_leaves=max_leaves,
    )
