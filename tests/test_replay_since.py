"""events replay --since: relative and ISO 8601 times."""

from __future__ import annotations

import pytest

from shared.sync.replay import parse_since

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("45s", NOW - 45),
        ("30m", NOW - 1800),
        ("12h", NOW - 43200),
        ("3d", NOW - 259200),
        ("2w", NOW - 1209600),
    ],
)
def test_relative_times_count_back_from_now(text, expected):
    assert parse_since(text, NOW) == int(expected)


@pytest.mark.parametrize(
    "text", ["2026-11-20T10:00:00Z", "2026-11-20T10:00:00+00:00", "2026-11-20T10:00:00", "2026-11-20T11:00:00+01:00"]
)
def test_iso_times_are_utc_unless_they_say_otherwise(text):
    assert parse_since(text, NOW) == 1_795_168_800


@pytest.mark.parametrize("text", ["", "yesterday", "3 days", "3y", "-3d", "2026-13-01"])
def test_anything_else_is_refused_with_the_forms_it_takes(text):
    with pytest.raises(ValueError, match="relative time like 3d, 12h, 30m nor an ISO 8601 time"):
        parse_since(text, NOW)
