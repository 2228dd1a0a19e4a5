"""Pilot tests of the three probe panes (queue, DNS, auth) with hand-built data, at 80x24."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.theme import Theme
from textual.widget import Widget
from textual.widgets import DataTable, Static

from cockpit.config.model import QueueSource
from cockpit.dns.observation import Outcome
from cockpit.model import Finding, Status
from cockpit.queue.history import QueueHistory
from cockpit.queue.sample import QueueSample, Reading
from cockpit.ui.auth_pane import AuthPane
from cockpit.ui.dns_pane import AUTHORITATIVE_ROW, RECORD_LABEL_CHARS, DnsPane, record_label
from cockpit.ui.queue_pane import COLUMNS, QueuePane
from cockpit.ui.themes import status_variable_defaults
from tests.dns_fakes import AUTHORITATIVE, MX_PRIMARY, MX_SECONDARY, T0, obs, sweep, watched

pytestmark = pytest.mark.anyio

HOSTILE = "\x1b]0;pwned\x07[@click=app.quit]x[link=x]y[/bold]z\\"
NOW = T0 + timedelta(seconds=60)
SIZE = (80, 24)


class PaneApp(App[None]):
    def __init__(self, pane: Widget) -> None:
        super().__init__()
        self.pane = pane

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return status_variable_defaults()

    def compose(self) -> ComposeResult:
        yield self.pane


def plain(value: Any) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def cell(table: DataTable[Any], row: int, column: int) -> str:
    return plain(table.get_cell_at(Coordinate(row, column)))


def row_texts(table: DataTable[Any], row: int) -> list[str]:
    return [cell(table, row, column) for column in range(len(table.columns))]


def row_of(table: DataTable[Any], key: str) -> int:
    """Where the row with `key` is (rows are ordered worst first, not as given)."""
    return table.get_row_index(key)


def static_text(widget: Static) -> str:
    return plain(widget.render())


# --- queue -----------------------------------------------------------------------------------


def queue_source(name: str) -> QueueSource:
    return QueueSource(name=name, kind="postqueue", command=("postqueue", "-j"), warn=5000)


def good(name: str, seconds: float, total: int, oldest: float | None = None) -> Reading:
    at = T0 + timedelta(seconds=seconds)
    by_queue = MappingProxyType({"active": 4, "deferred": total - 4})
    return Reading(name, at, QueueSample(name, at, total, by_queue, oldest_age_s=oldest))


def queue_rows() -> list[tuple[QueueSource, str, QueueHistory]]:
    draining_source = queue_source("mx1")
    draining = QueueHistory(draining_source, "primary")
    for step, total in enumerate((1300, 1260, 1220, 1180)):
        draining.add(good("mx1", step * 15.0 - 240, total, oldest=600.0))
    lost_source = queue_source(HOSTILE)
    lost = QueueHistory(lost_source, "secondary")
    lost.add(good(HOSTILE, -180, 1234))
    lost.add(Reading(HOSTILE, NOW, None, f"exit 255: {HOSTILE}"))
    return [(draining_source, "primary", draining), (lost_source, "secondary", lost)]


async def test_queue_pane_rows_show_glyph_word_rate_and_last_good_with_age() -> None:
    pane = QueuePane()
    app = PaneApp(pane)
    async with app.run_test(size=SIZE) as pilot:
        pane.show_histories(queue_rows(), NOW)
        await pilot.pause()
        table = pane.table
        good, lost = row_of(table, "q0"), row_of(table, "q1")
        assert (lost, good) == (0, 1)  # the unknown source first
        good_row = dict(zip(COLUMNS, row_texts(table, good), strict=True))
        assert good_row["status"] == "✓ ok"
        assert good_row["depth"] == "1,180"
        assert "4 active" in good_row["queues"] and "1,176 deferred" in good_row["queues"]
        assert len(good_row["history"]) == 4
        assert good_row["rate"].startswith("empty in about") and "(-160/min)" in good_row["rate"]
        assert good_row["oldest"] == "10 min"
        lost_row = dict(zip(COLUMNS, row_texts(table, lost), strict=True))
        assert lost_row["status"] == "? unknown"
        assert lost_row["depth"] == "last good 1,234 (4 min ago)"
        assert "0" not in lost_row["depth"].split()
        depth_cell = table.get_cell_at(Coordinate(lost, COLUMNS.index("depth")))
        assert isinstance(depth_cell, Text) and "dim" in str(depth_cell.style)
        assert "\x1b" not in "".join(lost_row.values())
        assert "[@click=app.quit]" in lost_row["source"] + lost_row["rate"]
        status_cell = table.get_cell_at(Coordinate(good, 0))
        assert isinstance(status_cell, Text) and status_cell.style.color is not None
        ok_colour = status_variable_defaults()["status-ok"].lower()
        assert status_cell.style.color.triplet.hex == ok_colour
        assert "\x1b" not in app.export_screenshot()
        assert app.is_running


async def test_queue_pane_ascii_only_uses_ascii_glyphs() -> None:
    pane = QueuePane(ascii_only=True)
    async with PaneApp(pane).run_test(size=SIZE) as pilot:
        pane.show_histories(queue_rows(), NOW)
        await pilot.pause()
        good = row_of(pane.table, "q0")
        assert cell(pane.table, good, 0) == "+ ok"
        assert set(cell(pane.table, good, COLUMNS.index("history"))) <= set("_.-=+*#@")


# --- dns -------------------------------------------------------------------------------------


def mx_sweep() -> Any:
    mx = watched("MX")
    hostile_raw = (f"example.com. 300 IN MX 10 {HOSTILE}",)
    resolver_answers = {
        ("Cloudflare", mx.key): dataclasses.replace(
            obs(mx, Outcome.ANSWER, MX_PRIMARY, server="Cloudflare"), raw_answers=hostile_raw
        ),
        ("Quad9", mx.key): obs(mx, Outcome.ANSWER, MX_SECONDARY, server="Quad9"),
        ("Office", mx.key): obs(mx, Outcome.TIMEOUT, server="Office", error=HOSTILE),
    }
    auth_answers = {
        (spec.name, mx.key): obs(mx, Outcome.ANSWER, MX_PRIMARY, server=spec.name)
        for spec in AUTHORITATIVE
    }
    return sweep(resolver_answers, auth_answers, records=(mx,))


async def test_dns_pane_matrix_estimate_serials_and_ttl_countdown() -> None:
    pane = DnsPane(clock=lambda: NOW)
    async with PaneApp(pane).run_test(size=SIZE) as pilot:
        pane.show_progress(1, 12)
        await pilot.pause()
        assert static_text(pane.progress) == "no sweep yet"  # a fast sweep shows no count
        await pilot.pause(1.05)
        pane.show_progress(3, 12)
        await pilot.pause()
        assert static_text(pane.progress) == "sweep in progress 3/12"
        pane.show_sweep(mx_sweep(), "primary")
        await pilot.pause()
        table = pane.table
        assert [plain(column.label) for column in table.columns.values()] == [
            "record",
            "converged",
            "Cloudflare",
            "Quad9",
            "Office",
            "estimate",
        ]
        mx, soa = row_of(table, mx_sweep().watched[0].key), row_of(table, AUTHORITATIVE_ROW)
        assert (mx, soa) == (0, 1)  # the warning first
        authoritative = row_texts(table, soa)
        assert authoritative[1] == "✓ ok"
        assert "ns1 2024050101" in authoritative[5] and "ns2 2024050101" in authoritative[5]
        mx_row = row_texts(table, mx)
        assert mx_row[0] == "MX example.com"
        assert mx_row[1] == "! warn 1/3 33%"
        assert mx_row[2] == "✓ ok primary 240s"
        assert mx_row[3] == "! warn secondary 240s"
        assert mx_row[4] == "? unknown timeout"
        assert mx_row[5].startswith("all caches fresh by 14:05:0")
        assert mx_row[5].endswith(", in 5 min") or mx_row[5].endswith(", in 4 min")
        pane.tick(NOW + timedelta(seconds=120))
        await pilot.pause()
        assert cell(table, mx, 2) == "✓ ok primary 120s"
        assert "sweep in progress" not in static_text(pane.progress)


def test_record_labels_are_relative_to_the_domain_as_in_a_zone_file() -> None:
    assert record_label("MX", "example.com", "example.com") == "MX @"
    assert record_label("DKIM", "s1._domainkey.example.com", "example.com") == "DKIM s1._domainkey"
    assert record_label("PTR", "1.20.0.127.in-addr.arpa", "example.com") == (
        "PTR 1.20.0.127.in-addr.arpa"
    )
    assert record_label("A", "notexample.com", "example.com") == "A notexample.com"
    assert record_label("MX", "example.com", None) == "MX example.com"


def visible_columns(table: DataTable[Any], count: int) -> int:
    """How many cells the first `count` columns take, padding included."""
    return sum(column.get_render_width(table) for column in table.ordered_columns[:count])


async def test_dns_pane_in_a_narrow_pane_keeps_the_converged_share_in_view() -> None:
    """At 80x24 the DNS pane is about 38 columns wide: a long record label gives way and only
    the record stays fixed, so the share shows and the resolvers can still scroll by."""
    long_dkim = dataclasses.replace(
        watched("MX"), name="selector-with-a-long-name._domainkey.example.com", check="DKIM"
    )
    base = mx_sweep()
    with_long = dataclasses.replace(base, watched=(*base.watched, long_dkim))
    pane = DnsPane(clock=lambda: NOW, domain="example.com")
    async with PaneApp(pane).run_test(size=(38, 16)) as pilot:
        pane.show_sweep(with_long, "primary")
        await pilot.pause()
        table = pane.table
        assert table.fixed_columns == 1
        assert cell(table, row_of(table, base.watched[0].key), 0) == "MX @"
        dkim = row_of(table, long_dkim.key)
        assert cell(table, dkim, 0).startswith("DKIM selector") and cell(table, dkim, 0).endswith(
            "…"
        )
        assert visible_columns(table, 2) <= table.scrollable_content_region.width
    wide = DnsPane(clock=lambda: NOW, domain="example.com")
    async with PaneApp(wide).run_test(size=(120, 16)) as pilot:
        wide.show_sweep(with_long, "primary")
        await pilot.pause()
        assert wide.table.fixed_columns == 2
        label = cell(wide.table, row_of(wide.table, long_dkim.key), 0)
        assert label.startswith("DKIM selector-with") and len(label) == RECORD_LABEL_CHARS


async def test_dns_pane_selection_shows_raw_answer_ttl_latency_rcode_literally() -> None:
    pane = DnsPane(clock=lambda: NOW)
    app = PaneApp(pane)
    async with app.run_test(size=SIZE) as pilot:
        pane.show_sweep(mx_sweep(), "primary")
        await pilot.pause()
        mx, soa = row_of(pane.table, mx_sweep().watched[0].key), row_of(pane.table, "authoritative")
        pane.table.move_cursor(row=mx, column=2)
        await pilot.pause()
        detail = static_text(pane.detail)
        assert "example.com MX at Cloudflare" in detail
        assert "rcode NOERROR, TTL 300 s (240 s left), latency 3.0 ms" in detail
        assert "[@click=app.quit]x[link=x]y[/bold]z\\" in detail
        assert "\x1b" not in detail and "\x07" not in detail
        pane.table.move_cursor(row=mx, column=4)
        await pilot.pause()
        detail = static_text(pane.detail)
        assert "rcode none, TTL none," in detail and "error: ␛]0;pwned␇[@click" in detail
        assert "[@click=app.quit]" in detail and "\x1b" not in detail
        pane.show_sweep(mx_sweep(), "primary")
        await pilot.pause()
        assert pane.table.cursor_coordinate == Coordinate(mx, 4)
        assert "rcode none, TTL none," in static_text(pane.detail)
        pane.table.move_cursor(row=soa, column=1)
        await pilot.pause()
        assert "serial 2024050101" in static_text(pane.detail)
        await pilot.press("enter", "right", "down")
        assert "\x1b" not in app.export_screenshot()
        assert app.is_running


async def test_dns_pane_ascii_only() -> None:
    pane = DnsPane(ascii_only=True, clock=lambda: NOW)
    async with PaneApp(pane).run_test(size=SIZE) as pilot:
        pane.show_sweep(mx_sweep(), "primary")
        await pilot.pause()
        assert cell(pane.table, row_of(pane.table, mx_sweep().watched[0].key), 2) == (
            "+ ok primary 240s"
        )


# --- auth ------------------------------------------------------------------------------------


def auth_findings() -> list[Finding]:
    return [
        Finding("auth", "spf", "example.com", Status.OK, "pass", "primary", data={"lookups": 4}),
        Finding("auth", "spf-lookups", "example.com", Status.WARN, "9 lookups", "primary"),
        Finding("auth", "dkim", "eu1", Status.OK, "key found", "primary"),
        Finding(
            "auth",
            "dkim",
            "us1",
            Status.FAIL,
            f"no key: {HOSTILE}",
            "secondary",
            data={"evidence": HOSTILE},
        ),
        Finding("auth", "idp", "sso.example.com", Status.UNKNOWN, "timeout", "secondary"),
    ]


async def test_auth_pane_regions_by_checks_and_detail_on_selection() -> None:
    pane = AuthPane()
    app = PaneApp(pane)
    async with app.run_test(size=SIZE) as pilot:
        pane.show_findings(auth_findings())
        await pilot.pause()
        table = pane.table
        labels = [plain(column.label) for column in table.columns.values()]
        assert labels[:4] == ["region", "SPF", "DKIM", "DMARC"]
        assert labels[-3:] == ["DANE", "webmail", "IdP"]
        assert (row_of(table, "secondary"), row_of(table, "primary")) == (0, 1)  # fail first
        primary = row_texts(table, row_of(table, "primary"))
        assert primary[0] == "primary"
        assert primary[1] == "! warn (2)"
        assert primary[2] == "✓ ok"
        assert primary[3] == "-"
        secondary = row_texts(table, row_of(table, "secondary"))
        assert secondary[2] == "✗ fail"
        assert secondary[10] == "? unknown"
        table.move_cursor(row=row_of(table, "secondary"), column=2)
        await pilot.pause()
        detail = static_text(pane.detail)
        assert "✗ fail dkim us1: no key:" in detail
        assert "evidence: " in detail and "[@click=app.quit]x[link=x]y[/bold]z\\" in detail
        assert "\x1b" not in detail
        table.move_cursor(row=row_of(table, "primary"), column=1)
        await pilot.pause()
        detail = static_text(pane.detail)
        assert "pass" in detail and "9 lookups" in detail and "lookups: 4" in detail
        pane.show_findings(auth_findings()[:2])
        await pilot.pause()
        assert pane.table.cursor_coordinate == Coordinate(0, 1)
        assert "9 lookups" in static_text(pane.detail)
        await pilot.press("enter")
        assert "\x1b" not in app.export_screenshot()
        assert app.is_running


async def test_auth_pane_says_whether_a_blank_check_was_skipped_or_has_nothing_to_check() -> None:
    pane = AuthPane(skipped=("smtp-tls",))
    async with PaneApp(pane).run_test(size=SIZE) as pilot:
        pane.show_findings(auth_findings())
        await pilot.pause()
        table = pane.table
        keys = [column.key.value for column in table.ordered_columns]
        primary_row = row_of(table, "primary")
        primary = dict(zip(keys, row_texts(table, primary_row), strict=True))
        assert primary["smtp-tls"] == "- skipped" and primary["dane"] == "- skipped"
        assert primary["idp"] == "-"  # only the secondary region has an IdP URL
        table.move_cursor(row=primary_row, column=keys.index("dane"))
        await pilot.pause()
        assert "not checked: [auth] skip in the config lists smtp-tls" in static_text(pane.detail)
        table.move_cursor(row=primary_row, column=keys.index("idp"))
        await pilot.pause()
        assert "nothing is configured for this check" in static_text(pane.detail)


async def test_auth_pane_ascii_only() -> None:
    pane = AuthPane(ascii_only=True)
    async with PaneApp(pane).run_test(size=SIZE) as pilot:
        pane.show_findings(auth_findings())
        await pilot.pause()
        assert cell(pane.table, row_of(pane.table, "secondary"), 2) == "X fail"


async def test_panes_take_the_new_status_colours_when_the_theme_changes() -> None:
    queue, auth, dns = QueuePane(), AuthPane(), DnsPane(clock=lambda: NOW)
    app = PaneApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await app.mount(auth)
        await app.mount(dns)
        queue.show_histories(queue_rows(), NOW)
        auth.show_findings(auth_findings())
        dns.show_sweep(mx_sweep(), "primary")
        await pilot.pause()
        app.register_theme(
            Theme(name="pane-test", primary="#0000aa", variables={"status-ok": "#123456"})
        )
        app.theme = "pane-test"
        await pilot.pause()
        for table, coordinate in (
            (queue.table, Coordinate(row_of(queue.table, "q0"), 0)),
            (auth.table, Coordinate(row_of(auth.table, "primary"), 2)),
            (dns.table, Coordinate(row_of(dns.table, mx_sweep().watched[0].key), 2)),
        ):
            ok_cell = table.get_cell_at(coordinate)
            assert isinstance(ok_cell, Text) and ok_cell.style.color is not None
            assert ok_cell.style.color.triplet.hex == "#123456"


async def test_dns_pane_without_authoritative_view_and_queue_without_readings() -> None:
    dns, queue = DnsPane(clock=lambda: NOW), QueuePane()
    app = PaneApp(dns)
    async with app.run_test(size=SIZE) as pilot:
        await app.mount(queue)
        mx = watched("MX")
        answers = {("Quad9", mx.key): obs(mx, Outcome.SERVFAIL, server="Quad9")}
        dns.show_sweep(sweep(answers, records=(mx,), authoritative_error="no NS set"), "primary")
        empty_source = queue_source("mx9")
        queue.show_histories([(empty_source, "primary", QueueHistory(empty_source))], NOW)
        await pilot.pause()
        authoritative = row_texts(dns.table, 0)
        assert authoritative[1] == "? unknown" and "none: no NS set" in authoritative[5]
        mx_row = row_texts(dns.table, 1)
        assert mx_row[2] == "? unknown not asked" and mx_row[3] == "? unknown SERVFAIL 240s"
        assert mx_row[5].startswith("no authoritative view: no NS set")
        queue_row = dict(zip(COLUMNS, row_texts(queue.table, 0), strict=True))
        assert queue_row["status"] == "? unknown"
        assert queue_row["depth"] == "no good reading yet"
