"""What the post-incident review needs recorded, as an entry's tags and data.

One set of rules for `cockpit log` (--cause, --factor, --impact, --went, --action with --owner,
--due, --ticket) and for the screen's note and action-item forms, so both write the same entry.

A note goes in at most one section of the review (`REVIEW_SECTIONS`, by name):

    name     tags                      the review's heading
    cause    cause                     trigger and root cause
    factor   factor                    contributing factors
    impact   impact                    impact (users affected, volume)
    well     lesson, went-well         lessons: what went well
    badly    lesson, went-badly        lessons: what went badly
    lucky    lesson, lucky             lessons: where we got lucky

`note_tags` puts a note's tags in one order: "lesson", "key" (the marks that existed before the
review), then the section's own; "lesson" is never repeated.

An action item is a note tagged "action" whose data holds {"action": {"owner", "due",
"ticket"}}, each optional and left out when blank (`action_data`). The owner and the ticket
are names, not prose: one line, no control or invisible characters, at most MAX_OWNER_CHARS and
MAX_TICKET_CHARS; the due date is a real calendar date written YYYY-MM-DD. A field that breaks
a rule raises ActionFieldError naming the field; its message says what was found and what was
expected, with the typed text cut short and cleaned (safe to show).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from typing import Any

from cockpit.incident.entry import (
    ACTION_TAG,
    CAUSE_TAG,
    FACTOR_TAG,
    IMPACT_TAG,
    KEY_TAG,
    LESSON_TAG,
    WENT_TAGS,
)
from cockpit.safe_text import clean

__all__ = [
    "ACTION_FIELDS",
    "MAX_OWNER_CHARS",
    "MAX_TICKET_CHARS",
    "REVIEW_SECTIONS",
    "ActionFieldError",
    "ReviewSection",
    "action_data",
    "action_tags",
    "note_tags",
    "parse_due",
    "review_section",
]

MAX_OWNER_CHARS = 100
"""The longest owner of an action item: a name, a team or an address."""
MAX_TICKET_CHARS = 200
"""The longest ticket: an id (OPS-1234) or the tracker's URL."""
ACTION_FIELDS = ("owner", "due", "ticket")
"""An action item's optional fields, in data["action"]."""
_SHOWN_CHARS = 40
"""How much of a refused value an error message repeats."""
_DUE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
"""English month names, whatever the locale (calendar.month_name follows LC_TIME)."""


@dataclass(frozen=True, slots=True)
class ReviewSection:
    """A section of the post-incident review a note can be filed under."""

    name: str
    """What `cockpit log` and a draft call it: cause, factor, impact, well, badly, lucky."""
    label: str
    """What the note form shows."""
    tags: tuple[str, ...]
    """The tags that file a note there."""
    what: str
    """What messages call such a note ("cause not written: ...")."""


REVIEW_SECTIONS: tuple[ReviewSection, ...] = (
    ReviewSection("cause", "Trigger / root cause", (CAUSE_TAG,), "cause"),
    ReviewSection("factor", "Contributing factor", (FACTOR_TAG,), "contributing factor"),
    ReviewSection("impact", "Impact (users, volume)", (IMPACT_TAG,), "impact note"),
    ReviewSection("well", "Went well (a lesson)", (LESSON_TAG, WENT_TAGS["well"]), "lesson"),
    ReviewSection("badly", "Went badly (a lesson)", (LESSON_TAG, WENT_TAGS["badly"]), "lesson"),
    ReviewSection("lucky", "We got lucky (a lesson)", (LESSON_TAG, WENT_TAGS["lucky"]), "lesson"),
)
"""Every section a note can be filed under, in the review's order."""


class ActionFieldError(ValueError):
    """An action item's owner, due date or ticket that cannot be written."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        """owner, due or ticket."""


def review_section(name: str | None) -> ReviewSection | None:
    """The section called `name` (None or "" for none); ValueError for an unknown name."""
    if not name:
        return None
    for section in REVIEW_SECTIONS:
        if section.name == name:
            return section
    known = ", ".join(section.name for section in REVIEW_SECTIONS)
    raise ValueError(f"no review section {_shown(name)}; expected one of {known}")


def note_tags(*, lesson: bool = False, key: bool = False, section: str | None = None) -> list[str]:
    """A note's tags: "lesson", "key", then the section's (see the module docstring)."""
    tags = [tag for tag, wanted in ((LESSON_TAG, lesson), (KEY_TAG, key)) if wanted]
    filed = review_section(section)
    for tag in filed.tags if filed is not None else ():
        if tag not in tags:
            tags.append(tag)
    return tags


def action_tags(*, lesson: bool = False, key: bool = False) -> list[str]:
    """An action item's tags: "lesson" and "key" when wanted, then "action"."""
    return [*note_tags(lesson=lesson, key=key), ACTION_TAG]


def parse_due(typed: str) -> str:
    """The due date as written to the log (YYYY-MM-DD); ActionFieldError("due") otherwise."""
    text = typed.strip()
    if not _DUE_SHAPE.fullmatch(text):
        raise ActionFieldError(
            "due", f"{_shown(text)} is not a date written YYYY-MM-DD (such as 2026-12-15)"
        )
    year, month, day = (int(part) for part in text.split("-"))
    if year < 1:
        raise ActionFieldError("due", f"{_shown(text)} is not a calendar date: there is no year 0")
    if not 1 <= month <= 12:
        raise ActionFieldError(
            "due", f"{_shown(text)} is not a calendar date: there is no month {month}"
        )
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        raise ActionFieldError(
            "due",
            f"{_shown(text)} is not a calendar date:"
            f" {_MONTHS[month - 1]} {year} has days 1 to {days}",
        )
    return text


def action_data(owner: str = "", due: str = "", ticket: str = "") -> dict[str, Any]:
    """{"action": {...}} with the fields given (stripped), blank ones left out; raises
    ActionFieldError for a field that breaks the rules of the module docstring."""
    action: dict[str, str] = {}
    if owner.strip():
        action["owner"] = _name_field("owner", owner, MAX_OWNER_CHARS)
    if due.strip():
        action["due"] = parse_due(due)
    if ticket.strip():
        action["ticket"] = _name_field("ticket", ticket, MAX_TICKET_CHARS)
    return {"action": action}


def _name_field(field: str, typed: str, most: int) -> str:
    text = typed.strip()
    if clean(text) != text:
        raise ActionFieldError(
            field,
            f"{_shown(text)} holds a line break, a control or an invisible character;"
            f" expected one line of plain text",
        )
    if len(text) > most:
        raise ActionFieldError(
            field, f"{len(text)} characters is too long; expected at most {most}"
        )
    return text


def _shown(text: str) -> str:
    """`text` as an error message repeats it: cleaned, quoted, cut short."""
    cut = text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."
    return repr(clean(cut))
