"""Every status has a glyph and a word in UTF-8 and in ASCII; the ASCII set is pure ASCII."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest

from cockpit.check_table import render_findings
from cockpit.glyphs import (
    ASCII,
    UNICODE,
    GlyphSet,
    effective_locale,
    glyph_set,
    sparkline,
    status_label,
    use_ascii,
)
from cockpit.model import Finding, Status
from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize("glyphs", [UNICODE, ASCII], ids=lambda g: g.name)
def test_every_status_has_a_glyph_and_its_word(glyphs: GlyphSet) -> None:
    assert set(glyphs.status) == set(Status)
    for status in Status:
        mark = glyphs.mark(status)
        assert mark.glyph.strip() and mark.word == status.value
        assert glyphs.label(status) == f"{mark.glyph} {status.value}"


@pytest.mark.parametrize("glyphs", [UNICODE, ASCII], ids=lambda g: g.name)
def test_status_glyphs_tell_the_statuses_apart_without_colour(glyphs: GlyphSet) -> None:
    assert len({glyphs.mark(status).glyph for status in Status}) == len(Status)


def _all_characters(glyphs: GlyphSet) -> str:
    text = "".join(glyphs.label(status) for status in Status)
    for item in fields(glyphs):
        value = getattr(glyphs, item.name)
        if isinstance(value, str) and item.name != "name":
            text += value
    return text


def test_ascii_set_is_pure_ascii_and_replaces_every_unicode_character() -> None:
    assert _all_characters(ASCII).isascii()
    assert not _all_characters(UNICODE).isascii()
    for item in fields(GlyphSet):
        if item.name not in {"name", "status"}:
            assert getattr(ASCII, item.name), item.name


def test_unicode_glyphs_are_one_cell_wide() -> None:
    from rich.cells import cell_len

    for status in Status:
        assert cell_len(UNICODE.mark(status).glyph) == 1
    for char in UNICODE.sparkline + UNICODE.horizontal + UNICODE.vertical:
        assert cell_len(char) == 1


def test_status_label_and_glyph_set_choose_by_mode() -> None:
    assert status_label(Status.OK) == "✓ ok"
    assert status_label(Status.FAIL, ascii_only=True) == "X fail"
    assert glyph_set(True) is ASCII and glyph_set(False) is UNICODE


def test_sparkline_scales_between_lowest_and_highest() -> None:
    assert sparkline([]) == ""
    assert sparkline([0, 7]) == "▁█"
    assert sparkline([3, 3, 3]) == "▁▁▁"
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7], ascii_only=True) == ASCII.sparkline
    assert sparkline([5, 0, 10], ascii_only=True).isascii()


@pytest.mark.parametrize(
    ("env", "encoding", "expected"),
    [
        ({"LANG": "C"}, "utf-8", True),
        ({"LANG": "POSIX"}, None, True),
        ({}, None, True),
        ({"LANG": ""}, None, True),
        ({"LANG": "en_US.UTF-8"}, "utf-8", False),
        ({"LANG": "de_DE.utf8"}, "UTF-8", False),
        ({"LANG": "C.UTF-8"}, "utf_8", False),
        ({"LANG": "sr_RS.UTF-8@latin"}, None, False),
        ({"LANG": "en_US.ISO-8859-1"}, "utf-8", True),
        ({"LANG": "en_US"}, None, True),
        # LC_ALL wins over both, either way round.
        ({"LANG": "en_US.UTF-8", "LC_ALL": "C"}, "utf-8", True),
        ({"LANG": "C", "LC_ALL": "en_US.UTF-8"}, "utf-8", False),
        ({"LANG": "C", "LC_ALL": ""}, "utf-8", True),
        # LC_CTYPE wins over LANG.
        ({"LANG": "en_US.UTF-8", "LC_CTYPE": "POSIX"}, "utf-8", True),
        ({"LANG": "en_US.ISO-8859-15", "LC_CTYPE": "en_GB.UTF-8"}, "utf-8", False),
        ({"LC_CTYPE": "C.UTF-8"}, "utf-8", False),
        # Python's locale coercion (PEP 538) turned LANG=C into LC_CTYPE=C.UTF-8.
        ({"LANG": "C", "LC_CTYPE": "C.UTF-8"}, "utf-8", True),
        # A UTF-8 locale with a stream that cannot carry UTF-8.
        ({"LANG": "en_US.UTF-8"}, "latin-1", True),
        ({"LANG": "en_US.UTF-8"}, "iso8859-1", True),
        ({"LANG": "en_US.UTF-8"}, "ascii", True),
        ({"LANG": "en_US.UTF-8"}, "no-such-codec", True),
    ],
)
def test_use_ascii(env: dict[str, str], encoding: str | None, expected: bool) -> None:
    assert use_ascii(env, encoding) is expected


def test_effective_locale_order() -> None:
    assert effective_locale({}) == "C"
    assert effective_locale({"LANG": "a.UTF-8", "LC_CTYPE": "b.UTF-8"}) == "b.UTF-8"
    assert effective_locale({"LANG": "a", "LC_CTYPE": "b", "LC_ALL": "c"}) == "c"


def test_a_c_locale_child_process_chooses_ascii() -> None:
    # The real thing: Python coerces the C locale to C.UTF-8 in the child; we still see C.
    code = "from cockpit.glyphs import terminal_wants_ascii; print(terminal_wants_ascii())"
    base = {"PATH": "/usr/bin:/bin"}
    for lang, expected in (("C", "True"), ("C.UTF-8", "False")):
        done = subprocess.run(
            [sys.executable, "-c", code],
            env={**base, "LANG": lang},
            capture_output=True,
            text=True,
            timeout=30,
            cwd=PROJECT_ROOT,
        )
        assert done.stdout.strip() == expected, (lang, done.stderr)


FINDINGS = [
    Finding("dns", "MX", "example.org", status, f"summary {status.value}", resolver="r1")
    for status in Status
]


@pytest.mark.usefixtures("wide_terminal")
def test_check_table_in_ascii_mode_is_pure_ascii() -> None:
    text = render_findings(FINDINGS, target="primary", target_origin="config", ascii_only=True)
    assert text.isascii(), text
    for status in Status:
        assert ASCII.label(status) in text


@pytest.mark.usefixtures("wide_terminal")
def test_check_table_in_unicode_mode_uses_the_glyphs() -> None:
    text = render_findings(FINDINGS, target="primary", target_origin="config", ascii_only=False)
    for status in Status:
        assert UNICODE.label(status) in text
