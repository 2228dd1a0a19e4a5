"""A real mail flow on loopback, inbound and outbound, for the canary tests.

    flow = start_mail_flow()          # or the fixtures in mail_flow_fixture.py
    flow.stop()

What runs (every address in 127.0.0.0/8, nothing leaves the machine):

- DNS: nsd + unbound (dnslab) serving example.test, outside.test and 72.0.127.in-addr.arpa
  (mail_flow_dns.py); `flow.resolver` is the unbound a cockpit config points at.
- Inbound, Postfix "mx": 127.0.71.1:25 (mx1.example.test, region primary, STARTTLS) accepts
  mail for example.test and delivers it with Postfix's virtual(8) into Dovecot's Maildirs:
  canary@ (and canary+anything@) to user canary's INBOX, canary+junk@ to its Junk folder,
  canary+lost@ to the discard transport (accepted, never delivered), canary+held@ to the hold
  queue (delivered to the INBOX when `release_held()` is called: a late arrival). 127.0.71.3:25
  (mx3.example.test, region secondary) refuses every recipient with 554 5.7.1.
- Outbound, Postfix "submit": 127.0.72.1:587 (submit.example.test), STARTTLS required, then
  SASL AUTH through Dovecot's auth socket (user sender); dkimpy-milter signs mail From
  example.test (d=example.test, s=cp1) and everything is relayed from 127.0.72.1 to
  [127.0.73.1]:25. 127.0.72.9:587 is the same service relaying from 127.0.72.9, an address
  SPF does not name.
- Postfix "outside": 127.0.73.1:25 (mx.outside.test) delivers outside.test mail into user
  outside's INBOX; its Received line names the relay ("from submit.example.test (unknown
  [127.0.72.1])": smtpd_peername_lookup is off, the lab has no system resolver).
- Dovecot on 127.0.74.1: STARTTLS on 143, implicit TLS on 993 (a trustme certificate for
  imap.example.test; `flow.ca_file`), users canary, outside and sender (`flow.users`).
  Nothing listens on 127.0.74.9 (`IMAP_DEAD_IP`); `stop_imap()`/`start_imap()` take the
  real server down and back within a test (submission AUTH fails meanwhile: same Dovecot).

An inbound SMTP client on this machine connects from 127.0.0.1 (the kernel's source address
for 127.0.0.0/8), which outside.test's SPF authorizes. Starts in about 2-3 s; `stop()` leaves
no process behind. Where a server is missing `require_mail_flow()` skips, or fails under CI.
Names and records: mail_flow_dns.py; server configurations: mail_flow_servers.py.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from tests.lab import LabError, find_program, missing_in_lab
from tests.lab.dnslab import DnsLab, missing_programs
from tests.lab.dovecot import MAIL_GROUP, MAIL_UID_USER, DovecotLab
from tests.lab.mail_flow_dns import (
    DKIM_SELECTOR,
    IMAP_DEAD_IP,
    IMAP_HOST,
    IMAP_IP,
    MX1_HOST,
    MX1_IP,
    MX3_HOST,
    MX3_IP,
    OUTSIDE_MX_IP,
    OUTSIDE_ZONE,
    SUBMIT_HOST,
    SUBMIT_IP,
    SUBMIT_UNLISTED_IP,
    ZONE,
    ZoneRecords,
    dkim_record_value,
    new_rsa_key,
    write_private_key,
)
from tests.lab.mail_flow_servers import (
    FOLDERS,
    HELD_ADDRESS,
    INBOX_ADDRESS,
    JUNK_ADDRESS,
    LOST_ADDRESS,
    LOST_REASON,
    OUTSIDE_ADDRESS,
    OUTSIDE_SENDER_ADDRESS,
    SENDER_ADDRESS,
    SUBMISSION_PORT,
    USERS,
    Servers,
    build_servers,
    processes_under,
)
from tests.lab.postfix import PostfixLab

REGIONS = {
    "primary": {"mx": (MX1_HOST,), "submission": SUBMIT_HOST, "sending_ips": (SUBMIT_IP,)},
    "secondary": {"mx": (MX3_HOST,), "submission": None, "sending_ips": ()},
}
"""What a cockpit config would say of each region: MX names, submission host, sending IPs."""
PROGRAMS = ("postfix", "postconf", "dovecot", "dkimpy-milter")


def require_mail_flow() -> None:
    """Skip when a server of the flow is missing; fail instead under CI, where it must run."""
    missing = [name for name in PROGRAMS if find_program(name) is None] + missing_programs()
    if missing:
        missing_in_lab(
            f"the mail-flow lab needs {', '.join(missing)} (Debian packages postfix, "
            "dovecot-imapd, dkimpy-milter, nsd, unbound in tests/debian-packages.txt)"
        )


@dataclass
class MailFlow:
    """The running world; every name, address and secret a canary test needs."""

    workdir: Path
    servers: Servers
    records: ZoneRecords
    ca_file: Path
    """PEM of the CA behind every lab certificate (cockpit `[tls] ca_file`)."""
    dkim_key_file: Path
    """The signing key (PKCS#8 PEM, 0600) whose public half is cp1._domainkey.example.test."""
    startup_seconds: float = 0.0
    domain: str = ZONE
    outside_domain: str = OUTSIDE_ZONE
    dkim_selector: str = DKIM_SELECTOR
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    regions: dict[str, dict[str, object]] = field(default_factory=lambda: dict(REGIONS))
    mx_primary: tuple[str, int] = (MX1_IP, 25)
    mx_refusing: tuple[str, int] = (MX3_IP, 25)
    submission: tuple[str, int] = (SUBMIT_IP, SUBMISSION_PORT)
    submission_unlisted: tuple[str, int] = (SUBMIT_UNLISTED_IP, SUBMISSION_PORT)
    outside_mx: tuple[str, int] = (OUTSIDE_MX_IP, 25)
    imap: tuple[str, int] = (IMAP_IP, 143)
    imaps: tuple[str, int] = (IMAP_IP, 993)
    imap_dead: tuple[str, int] = (IMAP_DEAD_IP, 143)
    imap_host: str = IMAP_HOST
    inbox_address: str = INBOX_ADDRESS
    junk_address: str = JUNK_ADDRESS
    lost_address: str = LOST_ADDRESS
    held_address: str = HELD_ADDRESS
    lost_reason: str = LOST_REASON
    """The mx log says "status=sent (<this>)" when it discards mail for lost_address."""
    sender_address: str = SENDER_ADDRESS
    outside_address: str = OUTSIDE_ADDRESS
    outside_sender_address: str = OUTSIDE_SENDER_ADDRESS
    dns_changed: bool = False
    """A test changed a record since the start (reset() restores them)."""

    @property
    def dns(self) -> DnsLab:
        return self.servers.dns

    @property
    def dovecot(self) -> DovecotLab:
        return self.servers.dovecot

    @property
    def mx(self) -> PostfixLab:
        """The inbound Postfix: 127.0.71.1 delivers, 127.0.71.3 refuses."""
        return self.servers.mx

    @property
    def submit(self) -> PostfixLab:
        """The signing submission Postfix on 127.0.72.1:587 and 127.0.72.9:587."""
        return self.servers.submit

    @property
    def outside(self) -> PostfixLab:
        """The outside receiver on 127.0.73.1:25."""
        return self.servers.outside

    @property
    def resolver(self) -> tuple[str, int]:
        """The lab's caching resolver (unbound): the one a cockpit under test asks."""
        return self.dns.resolver_address(0)

    @property
    def authoritative(self) -> tuple[str, int]:
        return self.dns.authoritative

    # --- DNS changes (each reloads nsd and flushes every resolver: no stale answer) ---

    def publish(self) -> None:
        for name, text in self.records.zones().items():
            self.dns.set_zone(name, text)
        self.dns.reload()
        for index in range(len(self.dns.resolvers)):
            self.dns.flush(index)
        self.dns_changed = True

    def set_spf(self, policy: str | None) -> None:
        """Publish `policy` as example.test's SPF record (None: no SPF record at all)."""
        self.records.spf = policy
        self.publish()

    def set_dkim_record(self, value: str | None) -> None:
        """Publish `value` at cp1._domainkey.example.test (None: remove the record)."""
        self.records.dkim = value
        self.publish()

    def publish_mismatched_dkim_key(self) -> str:
        """Publish a fresh key the milter does not sign with; returns the record published."""
        value = dkim_record_value(new_rsa_key())
        self.set_dkim_record(value)
        return value

    def set_dmarc(self, policy: str | None) -> None:
        self.records.dmarc = policy
        self.publish()

    def restore_dns(self) -> None:
        """Back to the records the world started with (published and flushed)."""
        self.records.restore()
        self.publish()
        self.dns_changed = False

    # --- IMAP down and up ---

    def stop_imap(self) -> None:
        """Stop Dovecot, keeping the mailboxes: 143 and 993 refuse until start_imap()."""
        self.dovecot.stop(keep_files=True)

    def start_imap(self) -> None:
        self.dovecot.start()

    @contextmanager
    def imap_down(self) -> Iterator[None]:
        self.stop_imap()
        try:
            yield
        finally:
            self.start_imap()

    def release_held(self) -> None:
        """Deliver what the mx holds (mail for `held_address`): a late arrival, now."""
        self.mx.release_held()

    def reset(self) -> None:
        """Undo what a test may have changed: DNS records, a stopped Dovecot."""
        if self.dovecot.process is None:
            self.start_imap()
        if self.dns_changed:
            self.restore_dns()

    # --- Mailboxes, read and written directly (for the lab's own checks) ---

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        return self.dovecot.maildir(user) / FOLDERS[folder]

    def messages(self, user: str, folder: str = "INBOX") -> list[Path]:
        maildir = self.maildir(user, folder)
        return sorted(path for sub in ("new", "cur") for path in (maildir / sub).glob("*"))

    def find_message(self, user: str, folder: str, token: str) -> bytes | None:
        for path in self.messages(user, folder):
            try:
                data = path.read_bytes()
            except OSError:  # moved from new/ to cur/ by an IMAP session meanwhile
                continue
            if token.encode() in data:
                return data
        return None

    def wait_for_message(self, user: str, folder: str, token: str, within: float = 10.0) -> bytes:
        """The raw message in `user`'s `folder` that contains `token` (polled, bounded)."""
        deadline = time.monotonic() + within
        while True:
            found = self.find_message(user, folder, token)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise LabError(
                    f"no message with {token!r} in {user}/{folder} within {within:g} s\n"
                    + self.log_tails()
                )
            time.sleep(0.05)

    def deliver(self, user: str, message: bytes, folder: str = "INBOX") -> Path:
        """Put `message` straight into a folder (a hostile message no MTA would pass as is)."""
        maildir = self.maildir(user, folder)
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.mailflow"
        staged = maildir / "tmp" / name
        staged.write_bytes(message)
        shutil.chown(staged, MAIL_UID_USER, MAIL_GROUP)
        final = maildir / "new" / name
        staged.rename(final)
        return final

    def log_tails(self, lines: int = 20) -> str:
        """The end of every server's log, for a failing test's message."""
        milter = self.servers.milter
        parts = [
            f"--- postfix mx ---\n{self.mx.log_tail(lines)}",
            f"--- postfix submit ---\n{self.submit.log_tail(lines)}",
            f"--- postfix outside ---\n{self.outside.log_tail(lines)}",
            f"--- dovecot ---\n{self.dovecot.log_tail(lines)}",
            f"--- dkimpy-milter ---\n{milter.log_tail(lines) if milter else '(not started)'}",
        ]
        return "\n".join(parts)

    def processes(self) -> list[int]:
        """Processes of this world still alive: by argv, working directory (Postfix daemons
        sit in their queue directory, Dovecot's in its base_dir) or MAIL_CONFIG."""
        return processes_under([str(self.workdir), str(self.dovecot.workdir)])

    def stop(self) -> None:
        """Stop every server; safe to call twice."""
        self.servers.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_mail_flow(resolver_count: int = 1) -> MailFlow:
    """Start every server of the flow (side by side) and return the world; stop() after."""
    began = time.monotonic()
    # Not under pytest's tmp (0700, reset by every session): the postfix user must enter it.
    workdir = Path(tempfile.mkdtemp(prefix="mailflow-"))
    workdir.chmod(0o711)
    try:
        ca = trustme.CA()
        ca_file = workdir / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        signing_key = new_rsa_key()
        key_file = workdir / f"{DKIM_SELECTOR}.pem"
        write_private_key(signing_key, key_file)
        published = dkim_record_value(signing_key)
        records = ZoneRecords(published_dkim=published, dkim=published)
        dns = DnsLab(workdir / "dns", records.zones(), resolver_count)
        servers = build_servers(workdir, ca, key_file, dns)
        servers.start()
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return MailFlow(
        workdir=workdir,
        servers=servers,
        records=records,
        ca_file=ca_file,
        dkim_key_file=key_file,
        startup_seconds=time.monotonic() - began,
    )
