"""safe_text: what happens to each character class, and that Markdown shows text literally."""

from __future__ import annotations

import html.parser
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

import cmarkgfm  # GitHub's own renderer (cmark-gfm), a test dependency
import pytest
from cmarkgfm.cmark import Options as CmarkOptions
from hypothesis import example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from cockpit.safe_text import (
    FORMAT_CHAR_RANGES,
    LINE_BREAK_MARK,
    LINKIFY_TLDS,
    clean,
    md_cell,
    md_inline,
)


def _renderers() -> dict[str, MarkdownIt]:
    """CommonMark, GFM with linkify (fuzzy links and emails, as VS Code and others render),
    and where this markdown-it-py has it GFM extended (single-tilde strikethrough, task lists,
    alerts)."""
    renderers = {"gfm-like": MarkdownIt("gfm-like"), "commonmark": MarkdownIt("commonmark")}
    try:
        renderers["gfm-like2"] = MarkdownIt("gfm-like2")
    except KeyError:  # pragma: no cover - markdown-it-py before 4.1
        pass
    return renderers


RENDERERS = _renderers()
GFM_RENDERERS = {name: r for name, r in RENDERERS.items() if name.startswith("gfm")}
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

EMAIL = re.compile(r"[\w.+-]+@[\w.-]*\.[^\W_]")
"""What GitHub links as an email address, roughly (it does whatever is escaped)."""


def walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from walk(token.children)


def inline_plain_text(inline: Token) -> str:
    """Plain text of an inline token; fails on anything but text (no links, HTML, code...).

    A soft line break (only in sources that hold one on purpose) reads as "\\n"."""
    assert inline.type == "inline"
    children = inline.children or []
    kinds = {child.type for child in children}
    assert kinds <= {"text", "softbreak"}, kinds
    return "".join("\n" if child.type == "softbreak" else child.content for child in children)


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


def assert_literal_everywhere(escaped: str, expected: str) -> None:
    """`escaped` shows exactly `expected` as plain text in every place the export puts it."""
    assert "\n" not in escaped
    for renderer in RENDERERS.values():
        assert rendered_paragraph(renderer, escaped) == (expected or None)
        # After a paragraph line: no setext underline, nothing that interrupts the paragraph.
        assert rendered_paragraph(renderer, f"para\n{escaped}") == f"para\n{expected}".strip()
        heading = renderer.parse(f"# title {escaped}")
        assert [t.type for t in heading] == ["heading_open", "inline", "heading_close"]
        assert inline_plain_text(heading[1]) == f"title {expected}".strip()
        bullet = renderer.parse(f"- {escaped}\n- next")
        assert [t.type for t in bullet].count("list_item_open") == 2
        assert [t.type for t in bullet if t.type.endswith("list_open")] == ["bullet_list_open"]
        if expected:
            assert inline_plain_text(bullet[3]) == expected
    for renderer in GFM_RENDERERS.values():
        assert rendered_cell(renderer, escaped) == expected


# %, $, ^, {, }, :, @, ., !, (, ) and more: markup in other dialects, or where the rules
# below leave them bare.
# fmt: off
markdownish = st.lists(
    st.sampled_from(
        [
            "*", "_", "`", "```", "~~", "~~~", "#", "> ", "- ", "+ ", "1. ", "1) ", "    ", "\t",
            "---", "===", "|", "\\", "[a]", "(http://x)", "![i](x.png)", "[a]: /u", "<", ">",
            "<http://evil>", "http://evil.example", "www.evil.example", "evil@example.com",
            "//localhost", "mailto:", "&amp;", "&lt;script&gt;", "&#x41;", "<script>", "<!--",
            "$", "^", "=", "{", "}", ":", "@", ".", "!", "\n", "\r\n", "\u2028", "\x1b", "\x9b",
            "\u202e", "\ud800", " ", "\u00a0", "\u3000", "a", "Z", "9", "é", "\u200d", "...",
            "(c)", "--", "\"", "'", "??????", ",,", "+-", "~", "&", "&copy", "#", "12", "-",
        ]
    ),
    max_size=25,
).map("".join)
# Hosts, URLs and emails of every shape linkify and GitHub link, and what stands around them.
linkish = st.lists(
    st.sampled_from(
        [
            "www", "mx1", "drill", "example", "com", "net", "co", "uk", "py", "de", "xn--p1ai",
            "\u0440\u0444", "localhost", "10", "0", "255", "a", "Z9", ".", ".", ".", "..", "-",
            "@", ":", "/", "//", "://", "_", " ", "http", "https", "ftp", "mailto:", "xmpp:",
            "#", "?", "=", "&", ";", "(", ")", "\u00a9", "\u00ab", "\u00e9", "\u0301", "$", "+",
            "|", "~", "*", ">", "'", '"', ",", "!", "%", "\\", "[", "]", ":8080", "\uff5c",
        ]
    ),
    max_size=20,
).map("".join)
# fmt: on


@given(st.one_of(any_text, markdownish, linkish))
@settings(max_examples=500, deadline=None)
@example("<script>alert(1)</script>")
@example("[a](http://evil) ![i](http://evil/x.png) <http://evil> www.evil.example x@y.com")
@example("    indented\\")
@example("a  \\")
@example("\\|")
@example("a.b\u00abc.example.com x=a.com a.b\u00a9c.com mail.co.uk. www.a.com.evil.org")
@example("mailto:a@b MAILTO:x@y a@10.0.0.1 //localhost a.com:8080 _www.x.y ~x~")
def test_md_inline_renders_as_the_cleaned_text(text: str) -> None:
    assert_literal_everywhere(md_inline(text), clean(text).strip())
    assert md_cell(text) == md_inline(text)


# How the export joins escaped pieces with its own words (export_md: "step {a} {b}: {c}",
# "{label}: {a}", "; ".join, " (at {a})", "{a})." ...).
JOINS = [" ", ", ", "; ", ": ", " (", ") ", "), ", ")."]


@given(st.one_of(markdownish, linkish), st.one_of(markdownish, linkish), st.sampled_from(JOINS))
@settings(max_examples=300, deadline=None)
@example("&amp", "x", "; ")
@example("drill.co", "", ").")
@example("http", "//evil.example", ": ")
@example("see www", "", ").")
def test_escaped_pieces_stay_literal_when_joined(first: str, second: str, join: str) -> None:
    # Mid-line, as the export places them ("1" + ") " + "x" would start a list at a line start).
    expected = f"at {clean(first).strip()}{join}{clean(second).strip()}".strip()
    assert_literal_everywhere(f"at {md_inline(first)}{join}{md_inline(second)}".strip(), expected)
    wrapped = f"({md_inline(first)})."
    assert_literal_everywhere(wrapped, f"({clean(first).strip()}).")


def test_the_gfm_renderer_really_links_bare_urls_and_emails() -> None:
    """The property tests mean something: linkify (fuzzy links and emails) is on."""
    gfm = RENDERERS["gfm-like"]
    assert gfm.options["linkify"]
    linked = ("mx1.example.net", "ops@example.com", "www.example.com", "http://x", "//localhost")
    for text in linked:
        assert "link_open" in {t.type for t in walk(gfm.parse(text))}, text
        assert "link_open" not in {t.type for t in walk(RENDERERS["commonmark"].parse(text))}


def test_linkify_tlds_are_the_ones_linkify_it_links() -> None:
    """LINKIFY_TLDS must follow linkify-it-py's defaults: a new TLD there must be added."""
    linkify = RENDERERS["gfm-like"].linkify
    assert linkify is not None
    assert linkify.re["src_tlds"] == LINKIFY_TLDS


# Plain prose, times, hosts without a linkable TLD, numbers: written exactly as they are.
READABLE = [
    "drill-r2 now answers secondary for drill.example MX",
    "2026-12-04T23:20:08.033Z",
    "2026-12-04 23:20:08 UTC",
    "eu-central (seq 4): 50% of 1,200 deferred; retry in 300 s",
    "queue 4.3.2 421 TLS handshake failed (mx1.drill.example)",
    "T+0:05:00 - DNS TTL 300 s, resolver 10.0.0.53:53",
    "canary@drill.example arrived in INBOX/Canary",
    "-5 °C in the DC; +49 30 1234 called",
    '#123 ticket: x = y + 1, it\'s "quoted", what? $HOME a^2 {k: v} R&D !important',
    "1.5 s",
    "v1.2.3",
    "Fail over MX to eu-central — ünïcödé, 日本語, emoji 🙂",
    "DKIM selector s1._domainkey? no: s1 only",
]


@pytest.mark.parametrize("text", READABLE)
def test_typical_text_is_written_as_it_is(text: str) -> None:
    # "_" is always escaped (emphasis); nothing else in these needs a backslash
    assert md_inline(text) == text.replace("_", "\\_")


@pytest.mark.parametrize(
    "text",
    [
        *READABLE,
        "step 3: flush *queue* (postqueue -f) at 12:00.",
        "see https://status.example.com/incidents/42 (12:00), then [ack]",
        "<b>bold</b> | a, b: c - d (e)",
        "restart: 1. then 2) drain - then `postqueue -f`",
    ],
)
def test_no_backslash_before_plain_punctuation(text: str) -> None:
    """No backslash before . , : - ( ) in typical text (hosts with a TLD aside: not here)."""
    assert re.search(r"\\[.,:()\-]", md_inline(text)) is None, md_inline(text)


# (raw text, what md_inline writes, where the raw text would be markup). The test checks the
# escaped text is literal in every context, and that the raw text is not (so each escape is
# needed), in markdown-it or, for GitHub-only rules, in cmark-gfm.
PARAGRAPH = "{}"
LIST_ITEM = "- {}"
AFTER_LINE = "para\n{}"
CELL = "| h |\n|---|\n| {} |"
THEN_SEMICOLON = "{};"
THEN_LINE = "{}\nnext"
HEADING_END = "# title {}"
ESCAPE_CASES: list[tuple[str, str, str]] = [
    # everywhere
    ("a\\", "a\\\\", THEN_LINE),  # hard line break
    ("`code`", "\\`code\\`", PARAGRAPH),
    ("*em* **strong**", "\\*em\\* \\*\\*strong\\*\\*", PARAGRAPH),
    ("_em_ __strong__", "\\_em\\_ \\_\\_strong\\_\\_", PARAGRAPH),
    ("[a](http://x)", "\\[a\\](http:\\//x)", PARAGRAPH),
    ("[a]: /u", "\\[a\\]: /u", PARAGRAPH),
    ("<b>x</b>", "\\<b\\>x\\</b\\>", PARAGRAPH),
    ("<http://x>", "\\<http:\\//x\\>", PARAGRAPH),
    ("a | b", "a \\| b", CELL),
    ("~~x~~", "\\~\\~x\\~\\~", PARAGRAPH),
    ("~x~", "\\~x\\~", PARAGRAPH),  # single tilde: gfm-like2 and GitHub
    ("```", "\\`\\`\\`", PARAGRAPH),
    ("~~~", "\\~\\~\\~", PARAGRAPH),
    ("> quote", "\\> quote", PARAGRAPH),
    ("***", "\\*\\*\\*", PARAGRAPH),
    ("___", "\\_\\_\\_", PARAGRAPH),
    # at the start
    ("# x", "\\# x", PARAGRAPH),
    ("###### x", "\\###### x", PARAGRAPH),
    ("#", "\\#", PARAGRAPH),
    ("+ x", "\\+ x", PARAGRAPH),
    ("- x", "\\- x", PARAGRAPH),
    ("-", "\\-", PARAGRAPH),
    ("---", "\\---", PARAGRAPH),
    ("- - -", "\\- - -", PARAGRAPH),
    ("--", "\\--", LIST_ITEM),  # "- --" is a thematic break
    ("--", "\\--", AFTER_LINE),  # setext underline
    ("===", "\\===", AFTER_LINE),
    ("1. x", "1\\. x", PARAGRAPH),
    ("1) x", "1\\) x", PARAGRAPH),
    ("12.", "12\\.", PARAGRAPH),
    # at the end
    ("issue #", "issue \\#", HEADING_END),
    ("##", "\\##", HEADING_END),
    # entity and character references
    ("&amp;", "\\&amp;", PARAGRAPH),
    ("&#60;", "\\&#60;", PARAGRAPH),
    ("&#x3C;", "\\&#x3C;", PARAGRAPH),
    ("&copy", "\\&copy", THEN_SEMICOLON),
    # autolinks
    ("http://evil.example/x", "http:\\//evil.example/x", PARAGRAPH),
    ("https://x", "https:\\//x", PARAGRAPH),
    ("ftp://x.example", "ftp:\\//x.example", PARAGRAPH),
    ("//localhost/x", "\\//localhost/x", PARAGRAPH),
    ("www.example.com", "www\\.example.com", PARAGRAPH),
    ("www.drill.example", "www\\.drill.example", PARAGRAPH),  # GitHub only
    ("(www.drill.example)", "(www\\.drill.example)", PARAGRAPH),  # GitHub only
    ("evil@example.com", "evil@example\\.com", PARAGRAPH),
    ("mx1.example.net", "mx1.example\\.net", PARAGRAPH),
    ("mail.co.uk", "mail\\.co\\.uk", PARAGRAPH),
    ("config.py", "config\\.py", PARAGRAPH),
    ("a.com:8080", "a\\.com:8080", PARAGRAPH),
    ("x=a.com", "x=a\\.com", PARAGRAPH),
    ("mailto:a@b", "mailto:a\\@b", PARAGRAPH),
    ("ops@10.0.0.1", "ops\\@10.0.0.1", PARAGRAPH),
]


PLACEHOLDER = "PLACEHOLDER"


def markdown_it_sees(renderer: MarkdownIt, source: str) -> tuple[list[tuple[str, str]], str]:
    """The token structure of `source` and the text it shows."""
    tokens = list(walk(renderer.parse(source)))
    text = "".join(t.content for t in tokens if t.type == "text")
    return [(t.type, t.tag) for t in tokens], text


def github_html(source: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(source, options=CmarkOptions.CMARK_OPT_UNSAFE)


def github_sees(source: str) -> tuple[list[str], str]:
    """The HTML tags GitHub makes of `source` and the text it shows."""
    seen = github_seen(source)
    return [tag for tag, _ in seen.tags], "".join(seen.text)


@pytest.mark.parametrize(("raw", "escaped", "context"), ESCAPE_CASES)
def test_each_rule_escapes_what_would_be_markup(raw: str, escaped: str, context: str) -> None:
    assert md_inline(raw) == escaped
    assert_literal_everywhere(escaped, raw)
    views: list[Callable[[str], tuple[list[Any], str]]] = [
        lambda source, renderer=renderer: markdown_it_sees(renderer, source)
        for renderer in RENDERERS.values()
    ]
    views.append(github_sees)
    markup_somewhere = False
    for view in views:
        structure, text = view(context.format(PLACEHOLDER))
        literal = (structure, text.replace(PLACEHOLDER, raw))
        if view is not github_sees or not EMAIL.search(raw):  # GitHub links emails anyway
            assert view(context.format(escaped)) == literal
        markup_somewhere |= view(context.format(raw)) != literal
    assert markup_somewhere, f"{raw!r} is not markup in {context!r}: the case proves nothing"


@pytest.mark.parametrize("text", ["![i](x.png)", "![i]", "!", "a!["])
def test_exclamation_mark_needs_no_escape(text: str) -> None:
    """ "[" is always escaped, so "!" can never start an image."""
    escaped = md_inline(text)
    assert "\\!" not in escaped
    assert_literal_everywhere(escaped, text)
    for renderer in RENDERERS.values():
        assert "image" not in {t.type for t in walk(renderer.parse(escaped))}


def test_md_inline_escapes_pipes_too() -> None:
    """A paragraph line with a bare "|" becomes a table header row above a delimiter row."""
    assert md_inline("  x|y  ") == "x\\|y"
    tokens = RENDERERS["gfm-like"].parse(f"{md_inline('a | b')}\n|---|---|")
    assert "table_open" not in {t.type for t in tokens}


def test_plain_text_is_returned_unchanged_by_md_inline() -> None:
    assert md_inline("plain words") == "plain words"
    assert md_inline("Grüße 🙂") == "Grüße 🙂"


def test_md_cell_of_empty_text_is_empty() -> None:
    assert md_cell("") == ""
    assert md_cell(" \t ") == ""
    assert md_cell("\n") == "↵"


def test_hard_break_cannot_form_at_the_end() -> None:
    assert md_inline("trailing backslash\\") == "trailing backslash\\\\"


# --- GitHub (cmark-gfm), where installed ---------------------------------------------------


class _HtmlSeen(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.link_texts: list[str] = []
        self._in_link = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "a":
            self._in_link = True
            self.link_texts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_link = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_link:
            self.link_texts[-1] += data


def github_seen(source: str) -> _HtmlSeen:
    seen = _HtmlSeen()
    seen.feed(github_html(source))
    seen.close()
    return seen


TABLE_TAGS = {"table", "thead", "tr", "th", "tbody", "td"}


@given(st.one_of(any_text, markdownish, linkish))
@settings(max_examples=300, deadline=None)
@example("www.drill.example (www.a.b) *www.x.y ~www.x.y http://x.example https://x ftp://x.y")
def test_github_shows_md_inline_literally_except_email_links(text: str) -> None:
    """GitHub's renderer: only <p> (and the table's tags), and no link but an email one.

    GitHub links what looks like name@host.tld (also "mailto:@.a") whatever is escaped: it
    finds them in the text after escapes are resolved. A known limit, see the module
    docstring of safe_text: any link GitHub makes has an "@" in its text."""
    expected = clean(text).strip()
    escaped = md_inline(text)
    for source, allowed in (
        (escaped, {"p"}),
        (f"| h | x |\n|---|---|\n| {escaped} | end |", TABLE_TAGS),
    ):
        seen = github_seen(source)
        assert {tag for tag, _ in seen.tags} <= allowed | {"a"}, source
        assert all("@" in link and "." in link for link in seen.link_texts), seen.link_texts
    assert "".join(github_seen(escaped).text).strip() == expected


def test_github_links_email_addresses_whatever_is_escaped() -> None:
    """The known limit, pinned: if cmark-gfm changes, the docstring of safe_text must too."""
    for source in ("ops@example\\.com", "ops\\@example\\.com", "ops&#64;example.com"):
        assert '<a href="mailto:ops@example.com">' in github_html(source)
