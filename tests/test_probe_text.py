"""Probe entry texts are never cut mid-name: the evidence gives way, the subject stays whole."""

from __future__ import annotations

from datetime import datetime

from cockpit.compat import UTC
from cockpit.dns.events import DnsEvent
from cockpit.incident.finding_changes import finding_changes
from cockpit.incident.probe_log import ProbeLogger
from cockpit.incident.probe_text import TEXT_CHARS, cut_words, fit, fit_around
from cockpit.model import Finding, Status

KEY = "a-rather-long-record-name.mail.example.com MX"
SERVER = "Quad9-secondary-anycast"
TARGETS = ", ".join(f"mx{n}.backup-mail.example.net" for n in range(30))
NOW = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)


def test_cut_words_cuts_at_a_word_boundary_when_one_is_near() -> None:
    assert cut_words("short", 10) == "short"
    assert cut_words("connection refused by peer", 20) == "connection refused…"
    assert cut_words("y" * 50, 10) == "y" * 9 + "…"


def test_fit_shortens_only_the_evidence() -> None:
    head = "primary smtp mx1.primary.example:25 now fail (was ok): "
    text = fit(head, "refused " * 100)
    assert text.startswith(head) and text.endswith("…") and len(text) <= TEXT_CHARS
    assert fit(head, "refused") == head + "refused"
    # A subject longer than the limit stays whole; the evidence goes.
    huge = "h" * 400
    assert fit(huge, "evidence") == huge + "…"


def test_fit_around_keeps_the_names_at_both_ends() -> None:
    text = f"{SERVER} now answers unexpected targets: {TARGETS} for {KEY}"
    assert len(text) > TEXT_CHARS
    shortened = fit_around(text, [SERVER, KEY])
    assert len(shortened) <= TEXT_CHARS
    assert shortened.startswith(f"{SERVER} now answers unexpected targets: mx0.")
    assert shortened.endswith(f"… for {KEY}")
    # No name in it: cut at the end, as before.
    assert fit_around("z" * 5000, ["absent"]) == "z" * 299 + "…"


def test_a_dns_event_keeps_its_record_name() -> None:
    text = f"{SERVER} now answers unexpected targets: {TARGETS} for {KEY}"
    event = DnsEvent("resolver_value_changed", KEY, SERVER, text, {})
    (entry,) = ProbeLogger(clock=lambda: NOW).offer([event])
    assert len(entry.text) <= TEXT_CHARS
    assert entry.text.startswith(SERVER) and entry.text.endswith(f" for {KEY}")


def test_a_dns_event_that_flapped_keeps_its_record_name() -> None:
    moments = [NOW]
    probe_logger = ProbeLogger(clock=lambda: moments[-1])
    first = f"{SERVER} now answers {TARGETS} for {KEY}"
    probe_logger.offer(
        [DnsEvent("resolver_value_changed", KEY, SERVER, first, {"after": {"answers": ["1"]}})]
    )
    moments.append(NOW.replace(second=1))
    second = f"{SERVER} now answers {TARGETS}, mx99.example.net for {KEY}"
    probe_logger.offer(
        [DnsEvent("resolver_value_changed", KEY, SERVER, second, {"after": {"answers": ["2"]}})]
    )
    (flapped,) = probe_logger.flush()
    assert len(flapped.text) <= TEXT_CHARS
    assert flapped.text.endswith(f" for {KEY} (flapped 2 times in 1 s)"), flapped.text


def finding(subject: str, status: Status, summary: str) -> Finding:
    return Finding(
        area="service",
        check="smtp",
        subject=subject,
        status=status,
        summary=summary,
        region="primary",
    )


def test_a_status_change_keeps_the_check_and_shortens_its_summary() -> None:
    subject = "mx1.a-long-host-name-for-the-primary-region.example.com:25"
    before = [finding(subject, Status.OK, "ok")]
    after = [finding(subject, Status.FAIL, "refused: " + "x " * 400)]
    (entry,) = finding_changes("service", before, after)
    assert entry.text.startswith(f"primary smtp {subject} now fail (was ok): refused: x")
    assert len(entry.text) <= TEXT_CHARS and entry.text.endswith("…")


def test_a_starting_picture_names_whole_checks_and_counts_the_rest() -> None:
    subjects = [f"mx{n}.{'long-label-' * 6}example.com:25" for n in range(5)]
    findings = [finding(subject, Status.FAIL, "refused") for subject in subjects]
    (entry,) = finding_changes("service", None, findings)
    assert len(entry.text) <= TEXT_CHARS
    assert "…" not in entry.text
    named = [subject for subject in subjects if subject in entry.text]
    assert named == subjects[: len(named)] and len(named) >= 1
    assert entry.text.endswith(f"; and {len(subjects) - len(named)} more")
