"""The review's marks as tags and data: one set of rules for `cockpit log` and the forms."""

from __future__ import annotations

import pytest

from cockpit.incident.entry import LESSON_TAG, WENT_TAGS
from cockpit.incident.review_marks import (
    REVIEW_SECTIONS,
    ActionFieldError,
    action_data,
    action_tags,
    note_tags,
    parse_due,
    review_section,
)


def test_every_section_has_its_tags_and_a_went_section_is_a_lesson() -> None:
    by_name = {section.name: section.tags for section in REVIEW_SECTIONS}
    assert by_name == {
        "cause": ("cause",),
        "factor": ("factor",),
        "impact": ("impact",),
        "well": ("lesson", "went-well"),
        "badly": ("lesson", "went-badly"),
        "lucky": ("lesson", "lucky"),
    }
    for how, tag in WENT_TAGS.items():
        assert by_name[how] == (LESSON_TAG, tag)


def test_note_tags_keep_one_order_and_never_repeat_lesson() -> None:
    assert note_tags() == []
    assert note_tags(lesson=True, key=True) == ["lesson", "key"]
    assert note_tags(key=True, section="cause") == ["key", "cause"]
    assert note_tags(lesson=True, section="lucky") == ["lesson", "lucky"]
    assert note_tags(key=True, section="well") == ["key", "lesson", "went-well"]
    assert action_tags() == ["action"]
    assert action_tags(lesson=True, key=True) == ["lesson", "key", "action"]


def test_an_unknown_section_is_refused_by_name() -> None:
    assert review_section(None) is None and review_section("") is None
    with pytest.raises(ValueError, match="no review section 'root'; expected one of cause,"):
        review_section("root")


@pytest.mark.parametrize(
    ("typed", "due"),
    [("2026-12-15", "2026-12-15"), (" 2026-01-31 ", "2026-01-31"), ("2000-02-29", "2000-02-29")],
)
def test_a_due_date_is_a_calendar_date(typed: str, due: str) -> None:
    assert parse_due(typed) == due


@pytest.mark.parametrize(
    "typed",
    ["1900-02-29", "2026-06-31", "2026-00-01", "2026-01-00", "\uff12026-01-01", "2026-01-01T00"],
)
def test_a_due_date_that_is_not_one_is_refused(typed: str) -> None:
    with pytest.raises(ActionFieldError) as refused:
        parse_due(typed)
    assert refused.value.field == "due"


def test_action_data_leaves_blank_fields_out_and_names_a_bad_one() -> None:
    assert action_data() == {"action": {}}
    assert action_data(owner=" carol ", ticket="  ") == {"action": {"owner": "carol"}}
    with pytest.raises(ActionFieldError) as refused:
        action_data(owner="carol", ticket="OPS\x1b[31m-1")
    assert refused.value.field == "ticket"
    assert "\x1b" not in str(refused.value)
    long_name = "a" * 60
    with pytest.raises(ActionFieldError) as refused:
        action_data(owner=long_name + "\nx")
    assert "a" * 37 + "..." in str(refused.value)  # the typed text is cut short
