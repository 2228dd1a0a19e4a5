"""The pure parts of the canary: Received hops, Authentication-Results, the path rule, the status
table, hostile headers and the message itself. No network."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from cockpit.canary.authres import auth_results, parse_auth_results
from cockpit.canary.headers import MAX_HEADER_BLOCK, from_domain, read_headers, single_address
from cockpit.canary.message import TOKEN_HEADER, canary_message, new_token, token_shape
from cockpit.canary.path_check import PathContext, judge_path, receiving_hop
from cockpit.canary.received import MAX_HOPS, Hop, parse_received, received_hops
from cockpit.canary.verdict import RunFacts, Verdict, run_status
from cockpit.compat import UTC
from cockpit.config import load_config_text
from cockpit.config.model import Region
from cockpit.model import Status
from cockpit.safe_text import clean

# ---- Received ----------------------------------------------------------------------------------

RECEIVED = [
    (
        "postfix",
        "from mail.example.org (mail.example.org [203.0.113.5])\r\n\tby mx1.example.test "
        "(Postfix) with ESMTPS id 4XyZ for <a@example.test>; Tue, 1 Oct 2024 10:00:00 +0000 (UTC)",
        Hop("mail.example.org", "mail.example.org", "203.0.113.5", "mx1.example.test"),
    ),
    (
        "postfix-unknown-rdns",
        "from submit.example.test (unknown [127.0.72.1]) by mx.outside.test (Postfix) with ESMTPS"
        " id 1; Tue, 1 Oct 2024 10:00:00 +0000",
        Hop("submit.example.test", "submit.example.test", "127.0.72.1", "mx.outside.test"),
    ),
    (
        "postfix-address-literal-helo",
        "from [127.0.0.1] (localhost [127.0.0.1]) by submit.example.test (Postfix) with ESMTPSA",
        Hop("[127.0.0.1]", "[127.0.0.1]", "127.0.0.1", "submit.example.test"),
    ),
    (
        "postfix-local",
        "by mx.outside.test (Postfix, from userid 0) id ABC; Tue, 1 Oct 2024 10:00:00 +0000",
        Hop(None, None, None, "mx.outside.test"),
    ),
    (
        "exim-helo-differs",
        "from rdns.example.org ([203.0.113.5] helo=helo.example.org) by mx.example.com with esmtps"
        " (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.96) (envelope-from <a@b.example>) id 1abc;"
        " Tue, 1 Oct 2024",
        Hop("rdns.example.org", "helo.example.org", "203.0.113.5", "mx.example.com"),
    ),
    (
        "exim-no-rdns",
        "from [203.0.113.5] (port=41234 helo=foo.example) by mx.example.com with esmtp",
        Hop("[203.0.113.5]", "foo.example", "203.0.113.5", "mx.example.com"),
    ),
    (
        "sendmail-nested-comment",
        "from host.example.org (host.example.org [192.0.2.1] (may be forged)) by mail.example.com"
        " (8.15.2/8.15.2) with ESMTPS id x",
        Hop("host.example.org", "host.example.org", "192.0.2.1", "mail.example.com"),
    ),
    (
        "exchange-bare-ip",
        "from EX01.corp.example.com (10.0.0.1) by EX02.corp.example.com (10.0.0.2) with Microsoft"
        " SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.1; Tue",
        Hop("ex01.corp.example.com", "ex01.corp.example.com", "10.0.0.1", "ex02.corp.example.com"),
    ),
    (
        "exchange-online-ipv6",
        "from AM0PR01MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:208:ac::25) by"
        " AM0PR01MB5678.eurprd01.prod.exchangelabs.com with HTTPS; Tue, 1 Oct 2024",
        Hop(
            "am0pr01mb1234.eurprd01.prod.exchangelabs.com",
            "am0pr01mb1234.eurprd01.prod.exchangelabs.com",
            "2603:10a6:208:ac::25",
            "am0pr01mb5678.eurprd01.prod.exchangelabs.com",
        ),
    ),
    (
        "gmail",
        "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com"
        " with SMTPS id a640c23a62f3a for <x@gmail.com> (Google Transport Security); Mon, 1 Jan",
        Hop("mail-sor-f41.google.com", "mail-sor-f41.google.com", "209.85.220.41", "mx.google.com"),
    ),
    (
        "gmail-by-ipv6",
        "by 2002:a05:6a10:a8c9:b0:3f1:2b3c:4d5e with SMTP id w9csp123; Mon, 1 Jan 2024",
        Hop(None, None, None, "2002:a05:6a10:a8c9:b0:3f1:2b3c:4d5e"),
    ),
    (
        "qmail",
        "from unknown (HELO mail.example.org) (203.0.113.5) by mx.example.com with SMTP; 1 Oct",
        Hop("unknown", "mail.example.org", "203.0.113.5", "mx.example.com"),
    ),
    (
        "ipv6-literal",
        "from mail.example.org (mail.example.org [IPv6:2001:db8::1]) by mx.example.com",
        Hop("mail.example.org", "mail.example.org", "2001:db8::1", "mx.example.com"),
    ),
    ("garbage", "garbage", None),
    ("empty", "", None),
    ("unbalanced", "from (((((", None),
    ("date-only", "; Tue, 1 Oct 2024 10:00:00 +0000", None),
    (
        "bad-ip-literal",
        "from x.example (x.example [999.1.1.1]) by y.example",
        Hop("x.example", "x.example", None, "y.example"),
    ),
]


@pytest.mark.parametrize(
    ("value", "expected"), [row[1:] for row in RECEIVED], ids=[row[0] for row in RECEIVED]
)
def test_received_shapes(value: str, expected: Hop | None) -> None:
    assert parse_received(value) == expected


def test_hops_are_newest_first_and_bounded() -> None:
    lines = [
        f"Received: from h{i}.example ([192.0.2.{i}]) by r{i}.example; date" for i in range(50)
    ]
    raw = ("\r\n".join(lines) + "\r\nFrom: a@example.test\r\n\r\nbody").encode()
    hops = received_hops(read_headers(raw))
    assert len(hops) == MAX_HOPS
    assert hops[0].by == "r0.example" and hops[1].by == "r1.example"


# ---- Authentication-Results ------------------------------------------------------------------

AR_POSTFIX_RSPAMD = (
    "mx.outside.test; dkim=pass (2048-bit key; unprotected) header.d=example.test header.s=cp1"
    " header.b=AbCd; spf=pass (mx.outside.test: domain of sender@example.test designates"
    " 127.0.72.1 as permitted sender) smtp.mailfrom=sender@example.test; dmarc=pass (p=REJECT)"
    " header.from=example.test"
)
AR_GMAIL = (
    'mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=s1 header.b="x;y";\r\n'
    "       spf=softfail (google.com: domain of a@b.example does not designate 1.2.3.4)"
    " smtp.mailfrom=a@b.example;\r\n       dmarc=fail (p=NONE sp=NONE dis=NONE)"
    " header.from=example.com"
)

AUTH_RESULTS = [
    (
        "rspamd-style",
        AR_POSTFIX_RSPAMD,
        "mx.outside.test",
        [("dkim", "pass", {"header.d": "example.test", "header.s": "cp1", "header.b": "AbCd"}),
         ("spf", "pass", {"smtp.mailfrom": "sender@example.test"}),
         ("dmarc", "pass", {"header.from": "example.test"})],
    ),
    (
        "gmail-folded-quoted-semicolon",
        AR_GMAIL,
        "mx.google.com",
        [("dkim", "pass", {"header.i": "@example.com", "header.s": "s1", "header.b": "x;y"}),
         ("spf", "softfail", {"smtp.mailfrom": "a@b.example"}),
         ("dmarc", "fail", {"header.from": "example.com"})],
    ),
    ("none", "example.org 1; none", "example.org", []),
    ("spaces-around-equals", 'mx.x.test ; spf = fail reason = "bad ip"', "mx.x.test",
     [("spf", "fail", {})]),
    ("versioned-method", "mx.x.test; dkim/1=pass header.d=a.test", "mx.x.test",
     [("dkim", "pass", {"header.d": "a.test"})]),
    ("only-semicolons", ";;;", "", []),
    ("empty", "", "", []),
    ("unbalanced-comment", "mx.x.test (((; dkim=pass", "mx.x.test", []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "authserv_id", "results"),
    [row[1:] for row in AUTH_RESULTS],
    ids=[row[0] for row in AUTH_RESULTS],
)
def test_authentication_results_shapes(
    value: str, authserv_id: str, results: list[tuple[str, str, dict[str, str]]]
) -> None:
    found_id, found = parse_auth_results(value)
    assert found_id == authserv_id
    assert [(r["method"], r["result"], r["props"]) for r in found] == results


def test_only_trusted_receivers_are_read() -> None:
    raw = (
        f"Authentication-Results: {AR_POSTFIX_RSPAMD}\r\n"
        "Authentication-Results: forged.example; dkim=pass header.d=example.test\r\n"
        "From: a@example.test\r\n\r\n"
    ).encode()
    found = auth_results(read_headers(raw), ("MX.Outside.Test",))
    assert found[0]["authserv_id"] == "mx.outside.test" and found[0]["trusted"] is True
    assert [r["method"] for r in found[0]["results"]] == ["dkim", "spf", "dmarc"]
    assert found[1] == {
        "authserv_id": "forged.example",
        "trusted": False,
        "note": "ignored (not trusted)",
    }
    assert all(item["trusted"] is False for item in auth_results(read_headers(raw), ()))


# ---- hostile headers ---------------------------------------------------------------------------

HOSTILE = "\x1b[31mred\x1b[0m [bold red]markup[/bold red] \u202eevil\u202c \x07 [link=x]y[/link]"


def test_hostile_headers_end_up_literal_bounded_and_clean() -> None:
    huge = "x" * (1024 * 1024)
    raw = (
        "Received: from [link=x]evil[/link]\x1b[2J ([203.0.113.9]) by mx1.example.test; d\r\n"
        f"Received: from {huge} by {huge}\r\n"
        f"Authentication-Results: {HOSTILE}; dkim={HOSTILE} header.d={huge}\r\n"
        f"From: {HOSTILE} <a@example.test>\r\n"
        f"X-Big: {huge}\r\n\r\nbody"
    ).encode()
    headers = read_headers(raw)
    assert headers.truncated  # the 1 MB block is cut at MAX_HEADER_BLOCK
    assert sum(len(value) for _, value in headers.fields) <= MAX_HEADER_BLOCK
    hops = received_hops(headers)
    where = PathContext.of("inbound", _region("primary", ["mx1.example.test"]), ())
    verdict = judge_path(hops, where)
    found = auth_results(headers, ("\x1b[31mred\x1b[0m",))
    text = json.dumps({"path": verdict.data, "summary": verdict.summary, "auth": found})
    for forbidden in ("\x1b", "\u202e", "\x07"):
        assert forbidden not in text
    for hop in verdict.data["hops"]:
        assert all(value is None or len(value) <= 120 for value in hop.values())
    # markup stays literal text: it is data, cleaned, never interpreted
    assert verdict.data["hops"][0]["from"] == "[link=x]evil[/link]\u241b[2j"
    assert verdict.status is Status.WARN  # the oldest hop (the 1 MB one) names no MX host
    assert clean(verdict.summary) == verdict.summary


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xff\xfe\x00garbage", b"no colon line\r\n\r\n", b"A: b\r\n" * 5000, b"\r\n\r\n"],
    ids=["empty", "binary", "no-colon", "many-fields", "no-headers"],
)
def test_garbage_never_raises(raw: bytes) -> None:
    headers = read_headers(raw)
    received_hops(headers)
    auth_results(headers, ("a",))
    from_domain(headers)


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("Cockpit <canary@Example.TEST.>", "canary@example.test"),
        ("canary@example.test", "canary@example.test"),
        ("<>", None),
        ("a@x.test, b@y.test", None),
        ("not an address", None),
        (None, None),
    ],
)
def test_single_address(value: str | None, address: str | None) -> None:
    assert single_address(value) == address


def test_two_from_headers_have_no_from_domain() -> None:
    raw = b"From: a@x.test\r\nFrom: b@y.test\r\n\r\n"
    assert from_domain(read_headers(raw)) is None
    assert from_domain(read_headers(b"From: A <a@X.test>\r\n\r\n")) == "x.test"


# ---- the path rule -----------------------------------------------------------------------------


def _region(name: str, mx: list[str], ips: tuple[str, ...] = (), helo: str | None = None) -> Region:
    return Region(name=name, mx=tuple(mx), sending_ips=ips, helo=helo)


PRIMARY = _region("primary", ["mx1.example.test"], ("127.0.72.1",), "submit.example.test")
SECONDARY = _region("secondary", ["mx3.example.test"], ("127.0.79.1",), "out3.example.test")


def _hops(*values: str) -> list[Hop]:
    hops = [parse_received(value) for value in values]
    return [hop for hop in hops if hop is not None]


PATHS = [
    (
        "inbound-through-region-mx",
        "inbound",
        ["by dovecot.example.test with LMTP",
         "from c.example (unknown [127.0.0.1]) by mx1.example.test"],
        Status.OK,
        ["mx1.example.test"],
        [],
    ),
    (
        "inbound-through-other-region",
        "inbound",
        ["from c.example (unknown [127.0.0.1]) by mx3.example.test"],
        Status.WARN,
        [],
        ["mx3.example.test"],
    ),
    (
        "inbound-relayed-through-old-region",
        "inbound",
        ["from mx3.example.test ([127.0.79.1]) by store.example.test",
         "from c.example ([127.0.0.1]) by mx1.example.test"],
        Status.WARN,
        ["mx1.example.test"],
        ["mx3.example.test [127.0.79.1]"],
    ),
    (
        "outbound-from-sending-ip",
        "outbound",
        ["by mx.outside.test (Postfix, from userid 0) id 1",
         "from submit.example.test (unknown [127.0.72.1]) by mx.outside.test",
         "from [127.0.0.1] (localhost [127.0.0.1]) by submit.example.test"],
        Status.OK,
        ["submit.example.test [127.0.72.1]"],
        [],
    ),
    (
        "outbound-from-unlisted-ip-and-name",
        "outbound",
        ["from submit2.example.test (unknown [127.0.72.9]) by mx.outside.test",
         "from [127.0.0.1] (localhost [127.0.0.1]) by submit2.example.test"],
        Status.WARN,
        [],
        ["submit2.example.test [127.0.72.9]"],
    ),
    (
        "outbound-through-other-region",
        "outbound",
        ["from out3.example.test ([127.0.79.1]) by mx.outside.test",
         "from [127.0.0.1] by submit.example.test"],
        Status.WARN,
        [],
        ["out3.example.test [127.0.79.1]"],
    ),
    ("no-received", "inbound", [], Status.UNKNOWN, [], []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("direction", "received", "status", "matched", "unexpected"),
    [row[1:] for row in PATHS],
    ids=[row[0] for row in PATHS],
)
def test_path_rule(
    direction: str,
    received: list[str],
    status: Status,
    matched: list[str],
    unexpected: list[str],
) -> None:
    handed_to = "mx1.example.test" if direction == "inbound" else "submit.example.test"
    where = PathContext.of(
        direction, PRIMARY, (PRIMARY, SECONDARY), handed_to=handed_to, own_ip="127.0.0.1"
    )
    verdict = judge_path(_hops(*received), where)
    assert verdict.status is status, verdict.summary
    assert verdict.data["matched"] == matched
    assert verdict.data["unexpected"] == unexpected
    assert verdict.data["expected"] is (status is Status.OK)
    for name in unexpected:
        assert name in verdict.summary


def test_receiving_hop_is_the_boundary() -> None:
    hops = _hops(
        "from submit.example.test (unknown [127.0.72.1]) by mx.outside.test",
        "from [127.0.0.1] (localhost [127.0.0.1]) by submit.example.test",
    )
    outbound = PathContext.of("outbound", PRIMARY, (PRIMARY,), handed_to="submit.example.test")
    hop = receiving_hop(hops, outbound)
    assert hop is not None and hop.ip == "127.0.72.1"
    inbound = PathContext.of("inbound", PRIMARY, (PRIMARY,), handed_to="mx1.example.test")
    assert receiving_hop(hops, inbound) == hops[-1]


# ---- the status table --------------------------------------------------------------------------

OK_V = Verdict(Status.OK, "ok", "ok")


def _verdicts(**statuses: Status) -> dict[str, Verdict]:
    found = {name: OK_V for name in ("dkim", "spf", "dmarc", "path")}
    for name, status in statuses.items():
        found[name] = Verdict(status, name, f"{name} {status.value}")
    return found


STATUS_TABLE = [
    ("all-ok", RunFacts(verdicts=_verdicts(), round_trip_s=3.0), Status.OK),
    ("refused", RunFacts(refused="RCPT refused: 550"), Status.FAIL),
    ("not-arrived", RunFacts(not_arrived="not arrived within 120 s"), Status.FAIL),
    ("dkim-fail", RunFacts(verdicts=_verdicts(dkim=Status.FAIL)), Status.FAIL),
    ("spf-fail", RunFacts(verdicts=_verdicts(spf=Status.FAIL)), Status.FAIL),
    ("dmarc-fail", RunFacts(verdicts=_verdicts(dmarc=Status.FAIL)), Status.FAIL),
    ("could-not-try", RunFacts(could_not_try="imap password not set"), Status.UNKNOWN),
    ("slow", RunFacts(verdicts=_verdicts(), round_trip_s=61.0, warn_s=60), Status.WARN),
    ("junk", RunFacts(verdicts=_verdicts(), junk_folder="Junk"), Status.WARN),
    ("unexpected-path", RunFacts(verdicts=_verdicts(path=Status.WARN)), Status.WARN),
    ("dmarc-none-policy", RunFacts(verdicts=_verdicts(dmarc=Status.WARN)), Status.WARN),
    ("copies", RunFacts(verdicts=_verdicts(), copies=2), Status.WARN),
    ("verdict-unknown", RunFacts(verdicts=_verdicts(dkim=Status.UNKNOWN)), Status.UNKNOWN),
    ("warn-beats-verdict-unknown",
     RunFacts(verdicts=_verdicts(dkim=Status.UNKNOWN), junk_folder="Junk"), Status.WARN),
    ("fail-beats-all",
     RunFacts(verdicts=_verdicts(spf=Status.FAIL, dkim=Status.UNKNOWN), junk_folder="Spam"),
     Status.FAIL),
    ("slow-exactly-at-warn_s", RunFacts(verdicts=_verdicts(), round_trip_s=60.0), Status.OK),
]  # fmt: skip


@pytest.mark.parametrize(
    ("facts", "status"), [row[1:] for row in STATUS_TABLE], ids=[row[0] for row in STATUS_TABLE]
)
def test_status_combination(facts: RunFacts, status: Status) -> None:
    found, reasons = run_status(facts)
    assert found is status
    assert bool(reasons) is (status is not Status.OK)


# ---- the message --------------------------------------------------------------------------------


def test_message_carries_the_token_and_is_plain_ascii() -> None:
    config = load_config_text(
        """
[domain]
name = "example.test"
[[region]]
name = "primary"
mx = ["mx1.example.test"]
[[region]]
name = "secondary"
mx = ["mx3.example.test"]
[[canary]]
name = "eu-in"
direction = "inbound"
from = "probe@Outside.TEST"
to = "canary@example.test"
imap = "127.0.0.1"
imap_user = "canary"
imap_password_env = "X"
"""
    )
    canary = config.canaries[0]
    token = new_token(canary.name)
    assert token_shape(token) and token != new_token(canary.name)
    raw = canary_message(canary, token, region="primary", now=datetime(2026, 1, 2, tzinfo=UTC))
    headers = read_headers(raw)
    assert headers.first(TOKEN_HEADER.lower()) == token
    assert token in (headers.first("subject") or "")
    assert (headers.first("message-id") or "").endswith("@outside.test>")
    assert headers.first("auto-submitted") == "auto-generated"
    assert from_domain(headers) == "outside.test"
    raw.decode("ascii")
    assert b"\r\n\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_the_canary_core_never_imports_textual() -> None:
    import subprocess
    import sys

    code = (
        "import sys, cockpit.canary.findings, cockpit.canary.run, cockpit.commands.check_cmd\n"
        "print([m for m in sys.modules if m == 'textual' or m.startswith('textual.')])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


# ---- DMARC when no From was read ----------------------------------------------------------------


def test_no_from_fails_dmarc_but_a_from_past_the_header_cut_is_unknown() -> None:
    """A message without a single From cannot pass DMARC (fail). When the header block was cut
    (over MAX_HEADER_BLOCK bytes) before any From, the cockpit did not see it: unknown."""
    from cockpit.canary.dmarc_verify import judge_dmarc

    big = b"X-Big: " + b"A" * (MAX_HEADER_BLOCK + 10) + b"\r\nFrom: a@example.test\r\n\r\nbody"
    headers = read_headers(big)
    assert headers.truncated and from_domain(headers) is None
    cut = judge_dmarc(
        None, None, dkim_pass_aligned=False, spf_pass_aligned=True, headers_cut=headers.truncated
    )
    assert cut.status is Status.UNKNOWN and "too big to read whole" in cut.summary
    missing = judge_dmarc(None, None, dkim_pass_aligned=False, spf_pass_aligned=True)
    assert missing.status is Status.FAIL and "no single From" in missing.summary


def test_the_name_a_server_gives_itself_marks_its_hop_as_the_regions() -> None:
    """The submission host writes its own EHLO name as `by`, which may not be the name the
    cockpit connected to: with that name the hop above it is the way out, and SPF is judged on
    the address that hop recorded."""
    hops = received_hops(
        read_headers(
            b"Received: from submit2.example.test (unknown [127.0.72.9])\r\n"
            b"\tby mx.outside.test (Postfix) with ESMTPS id A1; Sat, 5 Dec 2026 10:00:02 +0000\r\n"
            b"Received: from cockpit.example.test (unknown [127.0.0.1])\r\n"
            b"\tby submit.example.test (Postfix) with ESMTPSA id B2; Sat, 5 Dec 2026 10:00:01"
            b" +0000\r\n\r\nbody"
        )
    )
    region = _region("primary", ["mx1.example.test"])
    blind = PathContext.of("outbound", region, (), handed_to="submit2.example.test")
    assert receiving_hop(hops, blind) is None
    named = PathContext.of(
        "outbound", region, (), handed_to="submit2.example.test", server_name="Submit.Example.TEST."
    )
    hop = receiving_hop(hops, named)
    assert hop is not None and hop.ip == "127.0.72.9" and hop.by == "mx.outside.test"
