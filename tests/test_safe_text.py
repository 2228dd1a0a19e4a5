"""safe_text: what happens to each character class, and that Markdown shows text literally."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from cockpit.safe_text import FORMAT_CHAR_RANGES, LINE_BREAK_MARK, clean, md_cell, md_inline

RENDERERS = {"gfm-like": MarkdownIt("gfm-like"), "commonmark": MarkdownIt("commonmark")}
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
FORBIDDEN_AFTER_CLEAN = (
    [chr(c) for c in range(0x20) if c != 0x0A]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + list(BIDI_CONTROLS)
    + ["\u200b", "\u2060", "\ufeff", "\u00ad", "\U000e0041", "\u2028", "\u2029"]
)


def is_forbidden(char: str) -> bool:
    code = ord(char)
    return (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF
        or code in (0x2028, 0x2029)
        or (unicodedata.category(char) == "Cf" and code not in (0x200C, 0x200D))
    )


# --- clean --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\x00", "\u2400"),
        ("\x07", "\u2407"),
        ("\x1b[2J", "\u241b[2J"),
        ("\x0b\x0c", "\u240b\u240c"),
        ("\x1c\x1f", "\u241c\u241f"),
        ("\x7f", "\u2421"),
        ("a\tb", "a b"),
    ],
)
def test_c0_controls_and_del_become_control_pictures(raw: str, expected: str) -> None:
    assert clean(raw) == expected
    assert clean(raw, multiline=True) == expected


def test_c1_controls_become_replacement_characters() -> None:
    c1 = "".join(chr(c) for c in range(0x80, 0xA0) if c != 0x85)
    assert clean(c1) == "\ufffd" * len(c1)
    assert clean("\x9b31m") == "\ufffd31m"


@pytest.mark.parametrize("control", list(BIDI_CONTROLS))
def test_bidi_controls_become_replacement_characters(control: str) -> None:
    assert clean(f"abc{control}def") == "abc\ufffddef"


@pytest.mark.parametrize(
    "char", ["\u200b", "\u2060", "\u2061", "\u2064", "\ufeff", "\u00ad", "\u180e", "\U000e0041"]
)
def test_invisible_format_characters_become_replacement_characters(char: str) -> None:
    assert clean(f"ev{char}il") == "ev\ufffdil"


def test_zero_width_joiner_and_non_joiner_are_kept() -> None:
    assert clean("\U0001f469\u200d\U0001f4bb") == "\U0001f469\u200d\U0001f4bb"
    assert clean("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645") == (
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    )


def test_lone_surrogates_become_replacement_characters() -> None:
    assert clean("a\ud800b\udfffc") == "a\ufffdb\ufffdc"
    clean("\udc80").encode("utf-8")


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85"])
def test_each_newline_is_one_marker_or_one_newline(newline: str) -> None:
    assert clean(f"a{newline}b") == f"a{LINE_BREAK_MARK}b"
    assert clean(f"a{newline}b", multiline=True) == "a\nb"


def test_mixed_newlines() -> None:
    assert clean("a\r\n\r\nb\rc\n") == "a ↵  ↵ b ↵ c ↵ "
    assert clean("a\r\n\r\nb\rc\n", multiline=True) == "a\n\nb\nc\n"


def test_plain_text_is_returned_unchanged() -> None:
    text = "Fail over MX to eu-central — ünïcödé, 日本語, emoji 🙂"
    assert clean(text) is text


def test_non_str_is_converted() -> None:
    assert clean(42) == "42"
    assert clean(None) == "None"
    assert clean(b"\x1b") == "b'\\x1b'"


def test_format_ranges_cover_the_running_unicode_database() -> None:
    covered = {c for first, last in FORMAT_CHAR_RANGES for c in range(first, last + 1)}
    missing = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) == "Cf" and code not in covered
    ]
    assert missing == []


any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=60)


@given(any_text, st.booleans())
@settings(max_examples=300)
def test_clean_removes_every_dangerous_character(text: str, multiline: bool) -> None:
    cleaned = clean(text, multiline=multiline)
    assert not any(is_forbidden(ch) for ch in cleaned if not (multiline and ch == "\n"))
    assert "\x1b" not in cleaned
    assert clean(cleaned, multiline=multiline) == cleaned
    if not multiline:
        assert "\n" not in cleaned and "\r" not in cleaned
    cleaned.encode("utf-8")


@given(any_text)
def test_clean_single_line_equals_multiline_with_marked_breaks(text: str) -> None:
    assert clean(text) == clean(text, multiline=True).replace("\n", LINE_BREAK_MARK)


# --- Markdown -----------------------------------------------------------------------------


def inline_plain_text(inline: Token) -> str:
    """Plain text of an inline token; fails on anything but text (no links, HTML, code...)."""
    assert inline.type == "inline"
    children = inline.children or []
    kinds = {child.type for child in children}
    assert kinds <= {"text"}, kinds
    return "".join(child.content for child in children)


def rendered_paragraph(renderer: MarkdownIt, source: str) -> str | None:
    tokens = renderer.parse(source)
    if not tokens:
        return None
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    return inline_plain_text(tokens[1])


def rendered_cell(renderer: MarkdownIt, cell: str) -> str:
    tokens = renderer.parse(f"| head | x |\n|---|---|\n| {cell} | end |\n")
    types = [t.type for t in tokens]
    assert types.count("td_open") == 2, types
    inlines = [t for t in tokens if t.type == "inline"]
    assert inline_plain_text(inlines[-1]) == "end"
    return inline_plain_text(inlines[-2])


markdownish = st.lists(
    st.sampled_from(
        [
            "*", "_", "`", "```", "~~", "~~~", "#", "> ", "- ", "+ ", "1. ", "1) ", "    ", "\t",
            "---", "===", "|", "\\", "[a]", "(http://x)", "![i](x.png)", "[a]: /u", "<", ">",
            "<http://evil>", "http://evil.example", "www.evil.example", "evil@example.com",
            "//localhost", "mailto:", "&amp;", "&lt;script&gt;", "&#x41;", "<script>", "<!--",
            "$", "^", "=", "{", "}", ":", "@", ".", "!", "\n", "\r\n", "\u2028", "\x1b", "\x9b",
            "\u202e", "\ud800", " ", "\u00a0", "\u3000", "a", "Z", "9", "é", "\u200d", "...",
            "(c)", "--", "\"", "'", "??????", ",,", "+-",
        ]
    ),
    max_size=25,
).map("".join)


@given(st.one_of(any_text, markdownish))
@settings(max_examples=400)
@example("<script>alert(1)</script>")
@example("[a](http://evil) ![i](http://evil/x.png) <http://evil> www.evil.example x@y.com")
@example("    indented\\")
@example("a  \\")
@example("\\|")
def test_md_inline_renders_as_the_cleaned_text(text: str) -> None:
    expected = clean(text).strip()
    escaped = md_inline(text)
    assert "\n" not in escaped
    for renderer in RENDERERS.values():
        shown = rendered_paragraph(renderer, escaped)
        assert shown == (expected or None)
        heading = renderer.parse(f"# title {escaped}")
        assert [t.type for t in heading] == ["heading_open", "inline", "heading_close"]
        assert inline_plain_text(heading[1]) == f"title {expected}".strip()
        bullet = renderer.parse(f"- {escaped}\n- next")
        assert [t.type for t in bullet].count("list_item_open") == 2
    cell = md_cell(text)
    assert rendered_cell(RENDERERS["gfm-like"], cell) == expected


def test_md_inline_escapes_ascii_punctuation_only() -> None:
    assert md_inline("a.b") == "a\\.b"
    assert md_inline("  x|y  ") == "x\\|y"
    assert md_inline("plain words") == "plain words"
    assert md_inline("Grüße 🙂") == "Grüße 🙂"


def test_md_cell_of_empty_text_is_empty() -> None:
    assert md_cell("") == ""
    assert md_cell(" \t ") == ""
    assert md_cell("\n") == "↵"


def test_hard_break_cannot_form_at_the_end() -> None:
    assert md_inline("trailing backslash\\") == "trailing backslash\\\\"
