"""The one place that makes untrusted text safe to show or export.

DNS answers, HTTP headers, SMTP banners, command output and notes typed by other people can
carry terminal escape sequences, invisible characters that reorder or hide text, and Markdown
that turns into links or HTML. Everything that shows such text goes through this module.

What `clean` does to each class of character (everything not listed is kept as it is):

    class                                     single line (default)     multiline=True
    ---------------------------------------   -----------------------   ----------------
    "\\r\\n", "\\r", "\\n", U+0085, U+2028, U+2029   " ↵ " (one per break)     "\\n"
    "\\t"                                        " "                       " "
    other C0 controls U+0000-U+001F           Control Picture U+2400+code, e.g. ESC -> "␛"
    DEL U+007F                                "␡"
    C1 controls U+0080-U+009F (not U+0085)    U+FFFD
    lone surrogates U+D800-U+DFFF             U+FFFD
    format characters (category Cf): bidi     U+FFFD
      embeddings/overrides/isolates/marks,
      U+061C, zero width space U+200B, word
      joiner and invisible operators
      U+2060-U+2064, U+FEFF, soft hyphen
      U+00AD, U+180E, tag characters
      U+E0000-U+E007F, interlinear
      annotation U+FFF9-U+FFFB, ...
    ZWNJ U+200C and ZWJ U+200D                kept: emoji sequences (woman + ZWJ +
                                              laptop) and scripts such as Persian and
                                              Devanagari need them. They are invisible
                                              but cannot reorder or hide other text; two
                                              strings may still differ only by one.

Runs of spaces are kept (CommonMark keeps them in text too). Category Cf is the list in
`FORMAT_CHAR_RANGES` (Unicode 15.1; a test checks it covers the running Python's Unicode
database). No ESC, C1 control, bidi control or lone surrogate survives. Not changed on
purpose: other spaces (U+00A0, U+3000, ...), combining marks, private-use and unassigned code
points, and look-alike letters (homoglyphs are a display question, not an escaping one).
For a terminal, show `clean(text)` with markup off (Text/Content objects, markup=False).

`md_inline` and `md_cell` make text safe to place in one line of Markdown: they clean it,
strip surrounding whitespace and put a backslash before exactly the characters that
CommonMark, GFM (GitHub) or markdown-it's linkify would read as markup where they stand.
A backslash before ASCII punctuation always shows that character literally, so the text
renders exactly as cleaned, and the raw Markdown stays readable: "2026-12-04T23:20:08.033Z",
"drill.example", "eu-central (seq 4): 50%" are written as they are. What gets a backslash:

- everywhere: \\ ` * _ [ ] < > | ~ (escapes, hard breaks, code, fences, emphasis,
  strikethrough, links, images, raw HTML, <autolinks>, block quotes, table cells and rows;
  md_inline escapes "|" too, as a line with a "|" can become a table row). "!" is never
  escaped: "![" cannot start an image when "[" is escaped.
- the first character, as the text may start a line (a list item, a cell): "#" of "# x" or
  "#" (ATX heading, one to six "#"), "+" or "-" of "+ x", "- x", "-" (list item), "-" of
  "---", "- -", "--" (thematic break, setext underline, and "- " + "--" is one), "=" of
  "===" (setext underline), and the "." or ")" of "1. x", "12)", "1." (ordered list).
  "-5", "+49 30", "#123", "2026-12-04" and "1.5 s" cannot start a block and stay bare.
- the last "#"s after a space, as the text may end a heading line ("# Incident: {title}"),
  where they would be its closing sequence: "issue \\#", but "#123" and "C#" stay bare.
- "&" before "name;", "#123;" or "#x1F;" (entity and character references), or before
  "name", "#123" at the very end (text written right after it may add the ";").
- "/" before another "/": "http:\\//x", "\\//host" (GitHub url autolinks, linkify's schemes
  and protocol-relative links; the ":" stays bare).
- "." of "www." at the start or after whitespace or one of *_~( (GitHub's www autolink,
  which wants "www." in lower case).
- "." before a top-level domain linkify links without a scheme (LINKIFY_TLDS, not followed
  by a letter, digit or "-"; the end of the text counts as followed by anything), unless the
  host is part of a URL (right after "/" or ":") or starts with "www\\.":
  "mx1.example\\.net", "ops@example\\.com", "config\\.py"; "drill.example" stays bare. In a
  chain of such labels each one gets it ("mail\\.co\\.uk").
- "@" after "mailto:", and "@" between a name and an IPv4 address (linkify's mailto: and
  IP emails).

Left as they are on purpose: ".", ",", ":", ";", "-" and "+" (not first), "(", ")", "'", '"',
"=", "@", "%", "?", "$", "^", "{", "}". Known limits: GitHub links an email address
(name@host.tld) whatever is escaped, as it finds them in the text after escapes are resolved
(the link shows the same text); GitHub renders $...$ as math and :name: as an emoji; the
typographer of markdown-it (off in its CommonMark and GFM presets) is not prevented.

Results may be joined with other text when what touches them is a space or one of ,;:()
(or a "." after them; no letter, digit, "&", "/", "@" or "#" right next to them): entity
starts and domain labels at the end are escaped as if anything followed, and block markers
at the start as if the text started a line.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "FORMAT_CHAR_RANGES",
    "LINE_BREAK_MARK",
    "LINKIFY_TLDS",
    "clean",
    "md_cell",
    "md_inline",
]

LINE_BREAK_MARK = " \u21b5 "
"""What a line break becomes in single-line text: " ↵ "."""

_KEPT_FORMAT_CHARS = frozenset({0x200C, 0x200D})
# fmt: off
FORMAT_CHAR_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
    (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)
# fmt: on
"""Unicode category Cf (format characters) as of Unicode 15.1, written out so that import
stays fast and the result does not depend on the running Python's Unicode version."""
_NEWLINE_CODES = (0x0A, 0x0D, 0x85, 0x2028, 0x2029)


def _replaced_codes() -> dict[int, str]:
    """Every code point `clean` changes, mapped to its single-line replacement."""
    table: dict[int, str] = {}
    for code in range(0x20):
        table[code] = chr(0x2400 + code)
    table[0x09] = " "
    table[0x7F] = "\u2421"
    for code in range(0x80, 0xA0):
        table[code] = "\ufffd"
    for code in range(0xD800, 0xE000):
        table[code] = "\ufffd"
    for first, last in FORMAT_CHAR_RANGES:
        for code in range(first, last + 1):
            if code not in _KEPT_FORMAT_CHARS:
                table[code] = "\ufffd"
    for code in _NEWLINE_CODES:
        table[code] = LINE_BREAK_MARK
    return table


def _char_class(codes: list[int]) -> str:
    """A regex character class matching exactly `codes`, written as ranges."""
    parts: list[str] = []
    ordered = sorted(codes)
    start = prev = ordered[0]
    for code in ordered[1:] + [-1]:
        if code == prev + 1:
            prev = code
            continue
        first, last = chr(start), chr(prev)
        parts.append(re.escape(first) if start == prev else f"{re.escape(first)}-{re.escape(last)}")
        start = prev = code
    return "[" + "".join(parts) + "]"


_SINGLE_LINE_TABLE: dict[int, str] = _replaced_codes()
_MULTILINE_TABLE: dict[int, str] = {
    **_SINGLE_LINE_TABLE,
    **{code: "\n" for code in _NEWLINE_CODES},
}
_NEEDS_CLEAN = re.compile(_char_class(list(_SINGLE_LINE_TABLE)))

# Markdown escaping: only what CommonMark/GFM (and markdown-it's linkify) would read as markup.
# What can never become markup in any position is escaped everywhere; the rest only where it
# could start something (see the module docstring for each rule and why).
_ALWAYS_ESCAPED = "\\`*_[]<>|~"
_CONTEXTUAL = "&/@."
_ALWAYS_BYTES = _ALWAYS_ESCAPED.encode("ascii")
_CONTEXTUAL_BYTES = _CONTEXTUAL.encode("ascii")
_NOT_MARKDOWN_BYTES = bytes(b for b in range(256) if b not in _ALWAYS_BYTES + _CONTEXTUAL_BYTES)
_AMP, _SLASH, _AT, _DOT = (ord(c) for c in _CONTEXTUAL)
_BLOCK_START_CHARS = frozenset("#+-=0123456789")

# At the start of a line: an ATX heading, a bullet list item, a thematic break or setext
# underline of "-", a setext underline of "=" (escape the first character) ...
_BLOCK_MARKER = re.compile(r"(?:#{1,6}|[-+])(?:\s|$)|-[-\s]*$|=+$")
# At the end of a line: the closing sequence of an ATX heading (escape its first "#").
_CLOSING_HASHES = re.compile(r"(?:^|(?<=\s))#+$")
# "&name;", "&#123;", "&#x1F;" -- or the start of one that text written after ours completes.
_ENTITY_START = re.compile(r"&(?=#?[0-9A-Za-z]+(?:;|$))")
# "@" of "mailto:name@host" (linkify links any host there) and of "name@1.2.3.4" (linkify
# links an email at an IPv4 address even without a TLD; the name is ASCII letters, digits
# and _EMAIL_NAME_PUNCTUATION).
_MAILTO_AT = re.compile(r"(?i:mailto:)[^\s@]*(@)")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_EMAIL_NAME_PUNCTUATION = frozenset('_-;:&=+$,."')
# The top-level domains linkify-it links without a scheme (LinkifyIt().tlds_default, its
# two-letter country codes and punycode), as in linkify-it-py 2.x; a test checks they match.
LINKIFY_TLDS = (
    "biz|com|edu|gov|net|org|pro|web|xxx|aero|asia|coop|info|museum|name|shop|\u0440\u0444|"
    "a[cdefgilmnoqrstuwxz]|b[abdefghijmnorstvwyz]|c[acdfghiklmnoruvwxyz]|d[ejkmoz]|e[cegrstu]|"
    "f[ijkmor]|g[abdefghilmnpqrstuwy]|h[kmnrtu]|i[delmnoqrst]|j[emop]|k[eghimnprwyz]|"
    "l[abcikrstuvy]|m[acdeghklmnopqrstuvwxyz]|n[acefgilopruz]|om|p[aefghklmnrstwy]|qa|"
    "r[eosuw]|s[abcdeghijklmnortuvxyz]|t[cdfghjklmnortvwz]|u[agksyz]|v[aceginu]|w[fs]|y[et]|"
    "z[amw]|xn--[a-z0-9\\-]{1,59}"
)
"""Top-level domains (a regex alternation) that linkify-it links without a scheme."""
# A "." before a label that linkify could end a host with: a listed TLD, in any case, not
# followed by a letter, digit or "-". Matching in any case with re.IGNORECASE is slow, so
# ASCII text (nearly all) is lowered and matched by the first; other text by the second.
_TLD_DOT_LOWER = re.compile(r"\.(?:" + LINKIFY_TLDS + r")(?![a-z0-9-])")
_TLD_DOT_ANY_CASE = re.compile(r"\.(?:" + LINKIFY_TLDS + r")(?![^\W_]|-)", re.IGNORECASE)
# A run of letters, digits, "-" and "." (matched on the reversed text, to find where the
# run that holds a dot starts).
_HOST_RUN = re.compile(r"(?:[^\W_]|[-.])*")
_ESCAPE_OF: dict[int, str] = {ord(c): "\\" + c for c in _ALWAYS_ESCAPED if c != "\\"}
"""The escape of each character of _ALWAYS_ESCAPED but the backslash (done first)."""
_BACKSLASH = ord("\\")


def clean(text: Any, *, multiline: bool = False) -> str:
    """Make untrusted text safe to show: see the module docstring for each character class.

    Non-str input is passed through str() first. Text that needs no change is returned as is.
    """
    shown: str = text if isinstance(text, str) else str(text)
    # Every character we change is in a category str.isprintable() rejects (Cc, Cf, Cs, Zl,
    # Zp), and isprintable() is much faster than a regex search, so it is the fast path.
    if shown.isprintable() or _NEEDS_CLEAN.search(shown) is None:
        return shown
    if "\r" in shown:
        shown = shown.replace("\r\n", "\n")
    if shown.replace("\n", "").isprintable():
        # Line breaks alone, the common case: str.translate with a dict looks up every
        # character (about 40 ns each, a tenth of a millisecond for a long note).
        return shown if multiline else shown.replace("\n", LINE_BREAK_MARK)
    return shown.translate(_MULTILINE_TABLE if multiline else _SINGLE_LINE_TABLE)


def md_inline(text: Any) -> str:
    """Clean `text` to one line and escape it so Markdown shows it literally.

    Rendered by any CommonMark or GFM renderer, markdown-it with linkify included, the result
    reads as `clean(text).strip()` and contains no HTML, link, image, emphasis, code or block
    structure (the module docstring lists what is escaped where, and the known limits).
    """
    cleaned = clean(text).strip()
    if not cleaned:
        return cleaned
    # The ASCII characters that may need a backslash, found in C: the UTF-8 bytes with all
    # others deleted (no byte of a multi-byte UTF-8 sequence is ASCII).
    found = cleaned.encode("utf-8").translate(None, _NOT_MARKDOWN_BYTES)
    at_edge = cleaned[0] in _BLOCK_START_CHARS or cleaned[-1] == "#"
    if not found and not at_edge:
        return cleaned  # plain text: the fast path
    if at_edge or found.strip(_ALWAYS_BYTES):  # or one of _CONTEXTUAL is there
        positions = _contextual_escapes(cleaned, found)
        if positions:
            return _escape_at(cleaned, positions, found)
    if found.strip(_CONTEXTUAL_BYTES):  # one of _ALWAYS_ESCAPED is there
        return _escape_everywhere(cleaned, found)
    return cleaned


def md_cell(text: Any) -> str:
    """`md_inline` for a GFM table cell: every `|` is escaped, so the cell never splits.

    Empty (or all-whitespace) text gives "", which is a valid empty cell.
    """
    return md_inline(text)


def _escape_everywhere(text: str, found: bytes) -> str:
    """`text` with a backslash before each character of _ALWAYS_ESCAPED; `found` holds at
    least the ASCII characters of `text` that may need one."""
    codes = set(found)
    if _BACKSLASH in codes:  # first, so the backslashes added below are not doubled
        text = text.replace("\\", "\\\\")
    for code in codes:
        escape = _ESCAPE_OF.get(code)
        if escape is not None:
            text = text.replace(escape[1], escape)
    return text


def _escape_at(text: str, positions: list[int], found: bytes) -> str:
    """_escape_everywhere, plus a backslash before the characters at `positions` (none of
    which is in _ALWAYS_ESCAPED). `text` is cleaned: it holds no NUL, the stand-in for these
    backslashes while the others are added."""
    if len(positions) == 1:
        pieces = [text[: positions[0]], text[positions[0] :]]
    else:
        marks = sorted(set(positions))
        pieces = [text[start:end] for start, end in zip([0, *marks], [*marks, None], strict=True)]
    if not found.strip(_CONTEXTUAL_BYTES):  # nothing of _ALWAYS_ESCAPED in the text
        return "\\".join(pieces)
    return _escape_everywhere("\0".join(pieces), found).replace("\0", "\\")


def _contextual_escapes(text: str, found: bytes) -> list[int]:
    """Where a character that is markup only in some places needs a backslash in `text`."""
    positions = _host_dots(text) if _DOT in found else []
    first = text[0]
    if first in "#+-=":
        if _BLOCK_MARKER.match(text):
            positions.append(0)
    elif first in _BLOCK_START_CHARS:  # a digit: "1. x", "1) x", "12." (ordered list)
        after_digits = text.lstrip("0123456789")
        if after_digits[:1] in (".", ")") and after_digits[1:2] in ("", " "):
            positions.append(len(text) - len(after_digits))
    if text[-1] == "#" and (closing := _CLOSING_HASHES.search(text)):
        positions.append(closing.start())
    if _AMP in found:
        positions.extend(match.start() for match in _ENTITY_START.finditer(text))
    if _SLASH in found:  # every "/" followed by "/" (str.find is faster than a regex here)
        slash = text.find("//")
        while slash >= 0:
            positions.append(slash)
            slash = text.find("//", slash + 1)
    if _AT in found:
        if ":" in text and "mailto:" in text.lower():
            positions.extend(match.start(1) for match in _MAILTO_AT.finditer(text))
        at = text.find("@")
        while at >= 0:  # name@1.2.3.4
            if text[at + 1 : at + 2].isdigit() and _IPV4.match(text, at + 1):
                before = text[at - 1 : at]
                if before.isalnum() or before in _EMAIL_NAME_PUNCTUATION:
                    positions.append(at)
            at = text.find("@", at + 1)
    return positions


def _host_dots(text: str) -> list[int]:
    """The dots to escape so that no www autolink (GitHub) or fuzzy link (linkify) forms.

    linkify links "label.label.tld" (tld from LINKIFY_TLDS) where the tld ends the host: it
    is followed by the end of its text, a space or punctuation, or by a "." that is. Every
    escaped character ends a text for linkify, so the dot before each such tld is escaped
    (right to left, as an escaped dot after a label makes that label end a text). No host
    can start in a run of letters, digits, "-" and "." that follows "/" or ":" (linkify
    wants a space, punctuation other than .:/-_@, or the start of its text before a host),
    so those runs are left alone; so are runs that start with "www\\.": linkify does not link
    a host at the start of the text that follows an escaped character.
    """
    www: list[int] = []  # str.find is faster than a regex here
    start = text.find("www.")
    while start >= 0:
        if start == 0 or text[start - 1] in "*_~(" or text[start - 1].isspace():
            www.append(start + 3)
        start = text.find("www.", start + 4)
    if text.isascii():  # lower() keeps every position, and ASCII letters match as in re.I
        searched, pattern = text.lower(), _TLD_DOT_LOWER
    else:
        searched, pattern = text, _TLD_DOT_ANY_CASE
    match = pattern.search(searched)
    if match is None:
        return www
    tld_dots: list[tuple[int, int]] = []
    while match is not None:  # (search in a loop is faster than finditer)
        dot, end = match.span()
        # A dot at the start or after whitespace ends no label: linkify needs one before it.
        if dot and not text[dot - 1].isspace():
            tld_dots.append((dot, end))
        match = pattern.search(searched, end) if searched.find(".", end) >= 0 else None
    # Only where a run can follow ":" or "/", or start with "www\\.", is it looked for.
    backwards = text[::-1] if www or ":" in text or "/" in text else ""
    escaped: list[int] = []
    for dot, end in reversed(tld_dots):
        # (the dot after this label, if any, is the one of the hit looked at just before)
        if text.startswith(".", end) and not (escaped and escaped[-1] == end):
            after = text[end + 1 : end + 2]
            if after and (after.isalnum() or after == "-"):
                continue  # "a.com.x": linkify does not end a host before ".x"
        if backwards:
            # The run of letters, digits, "-" and "." that holds the dot starts here:
            start = len(text) - _HOST_RUN.match(backwards, len(text) - dot).end()
            if start and text[start - 1] in ":/":
                continue
            if text.find(".", start) in www:
                continue
        escaped.append(dot)
    return www + escaped if www else escaped
