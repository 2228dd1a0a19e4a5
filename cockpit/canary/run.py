"""One canary run, step by step, into a `RunRecord` (plain data; findings.py turns it into
findings). The steps, and the stage a run that ends there reports:

    config   the region (a name, or "target"), the passwords (secrets.py), the TLS trust
    find     IMAP first: look the server up, connect, log in (no message is sent to a mailbox
             the cockpit cannot read)
    send     inbound to the region's MX hosts, outbound through its submission (send_step.py)
    find     search every folder until found or `timeout` seconds after sending (imap_find.py)
    verify   fetch (at most 2 MB), delete when asked, then path, DKIM, SPF, DMARC (verify.py)
    done

With `delete = true`, the search is followed (found or not) by a sweep of the canary's earlier
messages that came too late or were left behind (sweep.py); it never changes the run's result.

Every wait is bounded: IMAP setup by IMAP_SETUP seconds, sending by SEND_BUDGET, finding by the
canary's `timeout` plus FETCH_BUDGET to read and delete; each blocking conversation runs in a
worker thread under a Watchdog, and a cancelled run stops them.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cockpit.auth.asker import Asker
from cockpit.auth.smtp_probe import FALLBACK_HELO
from cockpit.auth.tlsinfo import trust_context
from cockpit.canary.headers import shown
from cockpit.canary.imap_find import (
    MAX_MESSAGE_BYTES,
    Folder,
    Found,
    ImapPlace,
    ImapSession,
    ImapUnavailable,
    Oversize,
)
from cockpit.canary.message import canary_message, new_token
from cockpit.canary.secrets import Secret, SecretUnavailable, read_secret
from cockpit.canary.send_step import in_thread, look_up, send_inbound, send_outbound
from cockpit.canary.smtp_send import Login, Sending, SendResult
from cockpit.canary.sweep import CLOCK_MARGIN, Sweep, sweep
from cockpit.canary.verify import Checked, SentFacts, verify_delivered
from cockpit.canary.watchdog import Watchdog
from cockpit.config.model import CANARY_TARGET, Canary, Config, Region
from cockpit.config.values import BadValue, parse_hostname
from cockpit.model import Status

__all__ = ["FETCH_BUDGET", "IMAP_SETUP", "SEND_BUDGET", "RunRecord", "execute"]

IMAP_SETUP = 30.0
SEND_BUDGET = 90.0
FETCH_BUDGET = 30.0


@dataclass
class RunRecord:
    """What one run did and saw; nothing in it is secret."""

    canary: Canary
    started: datetime
    region: str | None = None
    token: str | None = None
    stage: str = "config"
    status: Status | None = None
    """FAIL or UNKNOWN when the run stopped early (with `error`); None when it got through."""
    error: str | None = None
    resolver: str | None = None
    sent_at: datetime | None = None
    sent_monotonic: float | None = None
    arrived_at: datetime | None = None
    round_trip_s: float | None = None
    folder: Folder | None = None
    copies: int = 0
    handed_to: str | None = None
    send: SendResult | None = None
    searched: list[str] = field(default_factory=list)
    oversize: str | None = None
    deleted: bool | None = None
    checked: Checked | None = None
    swept: Sweep | None = None
    """The sweep of earlier messages (None: not done, `delete` is false or no search ran)."""
    verify_error: str | None = None
    """Why the delivered message could not be verified (a bug met on the way), or None."""

    def stop(self, status: Status, reason: str) -> RunRecord:
        self.status, self.error = status, shown(reason, 400)
        return self


def helo_name(config: Config) -> str:
    """[service] helo, else this host's name when it is a dotted DNS name, else a .invalid one.

    socket.getfqdn() is not used: it would ask the system resolver."""
    if config.service.helo:
        return config.service.helo
    try:
        name = parse_hostname(socket.gethostname())
    except (BadValue, OSError):
        return FALLBACK_HELO
    return name if "." in name else FALLBACK_HELO


def resolve_region(config: Config, canary: Canary, target: str) -> Region | None:
    """The region the canary goes through: its own, or the target for "target"."""
    return config.region(target if canary.region == CANARY_TARGET else canary.region)


def _secrets(canary: Canary) -> tuple[Secret, Secret | None]:
    imap = read_secret(canary.imap_password, "imap password")
    submission = None
    if canary.direction == "outbound" and canary.submission_password is not None:
        submission = read_secret(canary.submission_password, "submission password")
    return imap, submission


async def _open_imap(
    record: RunRecord, canary: Canary, asker: Asker, secret: Secret, context: ssl.SSLContext
) -> ImapSession | None:
    record.stage = "find"
    found = await look_up(asker, canary.imap_host)
    if found.asked:
        record.resolver = asker.server.name
    if found.unknown is not None or found.missing is not None:
        why = found.unknown or found.missing
        record.stop(Status.UNKNOWN, f"imap {canary.imap_host}: could not look it up: {why}")
        return None
    errors = []
    for ip in found.addresses:
        place = ImapPlace(canary.imap_host, ip, canary.imap_port, canary.imap_tls)
        watch = Watchdog(time.monotonic() + IMAP_SETUP)

        def connect(watch: Watchdog, place: ImapPlace = place) -> ImapSession:
            return ImapSession.open(place, canary.imap_user, secret, context, watch)

        try:
            return await in_thread(watch, connect)
        except ImapUnavailable as error:
            errors.append(error.reason)
    record.stop(Status.UNKNOWN, "; ".join(errors))
    return None


async def execute(
    config: Config,
    canary: Canary,
    target: str,
    asker: Asker,
    clock: Callable[[], datetime],
) -> RunRecord:
    """The whole run (see the module docstring); never raises for what it meets."""
    record = RunRecord(canary, clock())
    region = resolve_region(config, canary, target)
    if region is None:
        return record.stop(Status.UNKNOWN, f"region {target} is not configured")
    record.region = region.name
    try:
        imap_secret, submission_secret = _secrets(canary)
        context = trust_context(config.tls.ca_file, check_hostname=True)
    except SecretUnavailable as missing:
        return record.stop(Status.UNKNOWN, missing.reason)
    except (OSError, ssl.SSLError) as error:
        return record.stop(
            Status.UNKNOWN, f"cannot load [tls].ca_file {config.tls.ca_file}: {error}"
        )
    session = await _open_imap(record, canary, asker, imap_secret, context)
    if session is None:
        return record
    try:
        await _send(record, config, canary, region, asker, context, submission_secret, clock)
        if record.status is None:
            raw = await _find(record, canary, session, clock)
            if raw is not None or record.oversize:
                record.stage = "verify"
            if raw is not None:
                await _verify(record, raw, config, region, asker)
            if record.status is None and not record.oversize:
                record.stage = "done"
    finally:
        await in_thread(Watchdog(time.monotonic() + 5.0), session.close_under)
    return record


async def _send(
    record: RunRecord,
    config: Config,
    canary: Canary,
    region: Region,
    asker: Asker,
    context: ssl.SSLContext,
    submission_secret: Secret | None,
    clock: Callable[[], datetime],
) -> None:
    record.stage = "send"
    record.token = new_token(canary.name)
    message = canary_message(canary, record.token, region=region.name, now=clock())
    sending = Sending(
        helo=helo_name(config),
        mail_from=canary.from_address,
        rcpt_to=canary.to_address,
        message=message,
        context=context,
    )
    deadline = time.monotonic() + SEND_BUDGET
    if canary.direction == "inbound":
        port = canary.mx_port or config.service.mx_port
        outcome = await send_inbound(region, port, asker, sending, deadline=deadline)
    else:
        assert submission_secret is not None and canary.submission_user is not None
        login = Login(canary.submission_user, submission_secret)
        outcome = await send_outbound(canary, asker, sending, login, deadline=deadline)
    if outcome.asked_dns:
        record.resolver = asker.server.name
    record.send, record.handed_to = outcome.result, outcome.handed_to
    if outcome.status is not None:
        record.stop(outcome.status, outcome.error or "not sent")
        return
    record.sent_at = clock()
    record.sent_monotonic = time.monotonic()


async def _verify(
    record: RunRecord, raw: bytes, config: Config, region: Region, asker: Asker
) -> None:
    record.resolver = asker.server.name
    try:
        record.checked = await verify_delivered(raw, _sent_facts(record, config, region), asker)
    except Exception as error:  # noqa: BLE001 - the run still says what it saw, and why not more
        record.verify_error = shown(
            f"the delivered message could not be verified: {type(error).__name__}: {error}", 300
        )


async def _find(
    record: RunRecord, canary: Canary, session: ImapSession, clock: Callable[[], datetime]
) -> bytes | None:
    record.stage = "find"
    sent = record.sent_monotonic or time.monotonic()
    until = sent + canary.timeout
    watch = Watchdog(until + FETCH_BUDGET)
    session.imap.watch = watch
    watch.track(session.imap.sock)

    def search(watch: Watchdog) -> tuple[list[Folder], Found | None, bytes | Oversize | None, bool]:
        folders = session.folders(canary.folders)
        found = session.find(record.token or "", folders, until=until, watch=watch)
        raw: bytes | Oversize | None = None
        deleted = False
        if found is not None:
            raw = session.fetch(found, watch)
            deleted = session.delete(found) if canary.delete else False
        if canary.delete:
            grace = canary.timeout + FETCH_BUDGET + CLOCK_MARGIN
            record.swept = sweep(session, canary, record.token, folders, now=clock(), grace_s=grace)
        return folders, found, raw, deleted

    try:
        folders, found, raw, deleted = await in_thread(watch, search)
    except ImapUnavailable as error:
        record.stop(Status.UNKNOWN, error.reason)
        return None
    except Exception as error:  # noqa: BLE001 - imaplib refusing a LIST: could not search
        record.stop(Status.UNKNOWN, f"imap {canary.imap_host}: {type(error).__name__}: {error}")
        return None
    record.searched = [folder.name for folder in folders]
    if found is None:
        searched = ", ".join(shown(name, 40) for name in record.searched[:8])
        record.stop(Status.FAIL, f"not arrived within {canary.timeout:g} s (searched {searched})")
        return None
    seconds = max(0.0, found.at - sent)
    record.round_trip_s = round(seconds, 2)
    if record.sent_at is not None:
        record.arrived_at = record.sent_at + timedelta(seconds=seconds)
    record.folder, record.copies = found.folder, len(found.uids)
    record.deleted = deleted if canary.delete else None
    if isinstance(raw, Oversize):
        record.oversize = (
            f"the delivered message is {raw.size} bytes, over the {MAX_MESSAGE_BYTES} byte"
            " limit: not read, not verified"
        )
        return None
    return raw


def _sent_facts(record: RunRecord, config: Config, region: Region) -> SentFacts:
    send = record.send
    return SentFacts(
        direction=record.canary.direction,
        region=region,
        regions=config.regions,
        envelope_sender=record.canary.from_address,
        handed_to=record.handed_to,
        own_ip=send.local_ip if send else None,
        server_name=send.server_name if send else None,
        own_helo=helo_name(config),
        trusted_authserv_ids=record.canary.trusted_authserv_ids,
    )
