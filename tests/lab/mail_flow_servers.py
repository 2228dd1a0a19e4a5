"""The servers of the mail-flow lab (tests/lab/mail_flow.py): how each is configured, started
together and stopped together.

Three Postfix instances (PostfixLab with extra main.cf/master.cf lines), one Dovecot
(DovecotLab with an auth socket for Postfix SASL), one dkimpy-milter and the DNS lab. Postfix
delivers with virtual(8) straight into Dovecot's Maildirs, as the uid Dovecot's static userdb
uses, so no LMTP is needed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests.lab import LabError, ServerProcess, find_program, free_port
from tests.lab.dnslab import DnsLab
from tests.lab.dovecot import MAIL_GROUP, MAIL_UID_USER, DovecotLab
from tests.lab.mail_flow_dns import (
    DKIM_SELECTOR,
    IMAP_HOST,
    IMAP_IP,
    MX1_HOST,
    MX1_IP,
    MX3_HOST,
    MX3_IP,
    OUTSIDE_MX_HOST,
    OUTSIDE_MX_IP,
    OUTSIDE_ZONE,
    SUBMIT_HOST,
    SUBMIT_IP,
    SUBMIT_UNLISTED_HOST,
    SUBMIT_UNLISTED_IP,
    ZONE,
)
from tests.lab.postfix import Listener, PostfixLab

SUBMISSION_PORT = 587
USERS = {
    "canary": "canary-Lab-pw-7141",
    "outside": "outside-Lab-pw-7341",
    "sender": "sender-Lab-pw-7241",
}
"""IMAP (and, for sender, SASL) logins; distinctive, so a test can grep output for them."""
INBOX_ADDRESS = f"canary@{ZONE}"
JUNK_ADDRESS = f"canary+junk@{ZONE}"
LOST_ADDRESS = f"canary+lost@{ZONE}"
HELD_ADDRESS = f"canary+held@{ZONE}"
"""Accepted, then kept in the mx's hold queue until MailFlow.release_held() (a late delivery)."""
SENDER_ADDRESS = f"sender@{ZONE}"
OUTSIDE_ADDRESS = f"outside@{OUTSIDE_ZONE}"
OUTSIDE_SENDER_ADDRESS = f"canary-probe@{OUTSIDE_ZONE}"
"""A From/MAIL FROM for inbound canaries: outside.test's SPF passes for 127.0.0.0/8."""
LOST_REASON = "lab address that never delivers"
"""What the discard transport logs for LOST_ADDRESS ("status=sent (...)")."""
FOLDERS = {"INBOX": "", "Junk": ".Junk"}
"""IMAP folder name -> Maildir++ sub-directory (Dovecot lists ".Junk" as "Junk")."""
HEADER_SIZE_LIMIT = 4 * 1024 * 1024
"""Postfix keeps 100 kB of header by default and drops the rest: the receivers keep 4 MB so a
hostile 1 MB header reaches the mailbox whole."""
QUIET = (
    # No system resolver here: a reverse lookup of 127.0.72.1 would wait for its timeout.
    "smtpd_peername_lookup = no",
    # Nothing is delivered locally: no /etc/aliases lookups (and their errors in the log).
    "alias_maps =",
    "alias_database =",
)


def _leaf_listener(
    ca: trustme.CA, names: list[str], port: int = 25, options: tuple[str, ...] = ()
) -> Listener:
    """STARTTLS with a lab certificate for `names` (host names and the listener's address)."""
    leaf = ca.issue_cert(*names)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return Listener(
        cert_pem=chain, key_pem=leaf.private_key_pem.bytes(), port=port, options=options
    )


def _virtual_delivery(maps: Path, mail_root: Path, mailboxes: dict[str, str]) -> list[str]:
    """main.cf lines for virtual(8) delivery of `mailboxes` (address -> Maildir, relative to
    Dovecot's mail root; a trailing slash means Maildir) as the uid Dovecot's userdb uses."""
    maps.mkdir(parents=True, exist_ok=True)
    (maps / "vmailbox").write_text("".join(f"{a} {box}\n" for a, box in mailboxes.items()))
    (maps / "transport").write_text(f"{LOST_ADDRESS} discard:{LOST_REASON}\n")
    account = pwd.getpwnam(MAIL_UID_USER)
    domains = sorted({address.split("@", 1)[1] for address in mailboxes})
    return [
        f"virtual_mailbox_domains = {' '.join(domains)}",
        f"virtual_mailbox_base = {mail_root}",
        # texthash: needs no postmap run.
        f"virtual_mailbox_maps = texthash:{maps / 'vmailbox'}",
        f"transport_maps = texthash:{maps / 'transport'}",
        f"virtual_uid_maps = static:{account.pw_uid}",
        f"virtual_gid_maps = static:{account.pw_gid}",
        # canary+tag@ falls back to canary@ unless the map names canary+tag@ itself.
        "recipient_delimiter = +",
        f"header_size_limit = {HEADER_SIZE_LIMIT}",
        *QUIET,
    ]


def _submission_options(auth_socket: Path) -> tuple[str, ...]:
    """A submission listener: TLS first, then SASL AUTH through Dovecot, then relay."""
    return (
        "smtpd_tls_security_level=encrypt",
        "smtpd_sasl_auth_enable=yes",
        "smtpd_tls_auth_only=yes",
        "smtpd_sasl_type=dovecot",
        f"smtpd_sasl_path={auth_socket}",
        "smtpd_client_restrictions=permit_sasl_authenticated,reject",
        "smtpd_relay_restrictions=permit_sasl_authenticated,reject",
    )


def _dovecot_extra(auth_socket: Path) -> str:
    # The auth socket is for Postfix's smtpd (user postfix): 0666 is fine on a lab machine.
    # Failed logins are answered at once: auth_failure_delay (2 s by default) is off, and
    # so is the per-IP auth penalty (2-15 s for every later login from 127.0.0.1), which
    # Dovecot drops when its anvil-auth-penalty socket is missing ("mode = 0" removes it).
    return (
        "auth_failure_delay = 0\n"
        "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n"
        "service auth {\n"
        f"  unix_listener {auth_socket} {{\n    mode = 0666\n  }}\n"
        "}\n"
        "namespace inbox {\n  inbox = yes\n"
        "  mailbox Junk {\n    special_use = \\Junk\n  }\n"
        "}\n"
    )


def _prepare_mailboxes(mail_root: Path) -> None:
    """Every Maildir the flow delivers to, made before the first message so that Dovecot
    lists Junk from the start; owned by the uid that virtual(8) and Dovecot both use."""
    for user, folders in (("canary", ("", ".Junk")), ("outside", ("",)), ("sender", ("",))):
        for folder in folders:
            for sub in ("cur", "new", "tmp"):
                (mail_root / user / "Maildir" / folder / sub).mkdir(parents=True, exist_ok=True)
    for path in [mail_root, *mail_root.rglob("*")]:
        shutil.chown(path, MAIL_UID_USER, MAIL_GROUP)


def _accepting(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=0.3):
        pass


@dataclass
class Servers:
    """Every server of the flow, configured; `start()` runs them, `stop()` ends them."""

    dns: DnsLab
    dovecot: DovecotLab
    mx: PostfixLab
    submit: PostfixLab
    outside: PostfixLab
    milter_conf: Path
    milter_port: int
    milter: ServerProcess | None = None

    def start(self) -> None:
        program = find_program("dkimpy-milter")
        if program is None:
            raise LabError("dkimpy-milter is not installed")
        try:
            # Postfix daemonizes, so it may start in worker threads. The others must start
            # from this thread: a ServerProcess child dies with the thread that forked it
            # (PR_SET_PDEATHSIG follows the thread, not the process).
            with ThreadPoolExecutor(max_workers=3) as pool:
                postfix_jobs = [pool.submit(lab.start) for lab in self.postfixes]
                self.milter = ServerProcess(
                    "dkimpy-milter",
                    [program, str(self.milter_conf)],
                    self.milter_conf,
                    [self.milter_conf.parent / "out"],
                )
                self.dns.start()
                self.dovecot.start()
                self.milter.wait_until(
                    lambda: _accepting(("127.0.0.1", self.milter_port)),
                    f"listening on 127.0.0.1:{self.milter_port}",
                    10.0,
                )
                for job in postfix_jobs:
                    job.result()
        except BaseException:
            self.stop()
            raise

    @property
    def postfixes(self) -> tuple[PostfixLab, ...]:
        return (self.mx, self.submit, self.outside)

    def stop(self) -> None:
        """Stop everything, the Postfix instances side by side (`postfix stop` takes ~2 s)."""
        if self.milter is not None and self.milter.running():
            # dkimpy-milter takes about 4 s to act on SIGTERM (INT and HUP alike); it keeps
            # no state worth a clean exit.
            self.milter.popen.kill()
            self.milter.popen.wait(timeout=5)
        if self.milter is not None:
            self.milter.stop()
        with ThreadPoolExecutor(max_workers=3) as pool:
            stopping = [pool.submit(lab.stop) for lab in self.postfixes]
            for stop in (self.dovecot.stop, self.dns.stop):
                try:
                    stop()
                except Exception:  # noqa: BLE001 - keep stopping the others
                    pass
            for job in stopping:
                try:
                    job.result()
                except Exception:  # noqa: BLE001
                    pass


def build_servers(workdir: Path, ca: trustme.CA, key_file: Path, dns: DnsLab) -> Servers:
    """Write every configuration under `workdir` (enterable by the postfix user)."""
    imap_leaf = ca.issue_cert(IMAP_HOST, f"imap.{OUTSIDE_ZONE}", IMAP_IP)
    auth_socket = workdir / "dovecot-auth"
    dovecot = DovecotLab(
        IMAP_IP, cert=imap_leaf, users=USERS, extra_config=_dovecot_extra(auth_socket)
    )
    _prepare_mailboxes(dovecot.mail_root)
    inbound = {
        INBOX_ADDRESS: "canary/Maildir/",
        JUNK_ADDRESS: "canary/Maildir/.Junk/",
        LOST_ADDRESS: "canary/Maildir/",  # listed so that it is accepted; never delivered
        HELD_ADDRESS: "canary/Maildir/",  # delivered once released from the hold queue
    }
    mx_maps = workdir / "mx-maps"
    mx_main_cf = _virtual_delivery(mx_maps, dovecot.mail_root, inbound)
    (mx_maps / "hold").write_text(f"{HELD_ADDRESS} HOLD lab: delivered when released\n")
    mx_main_cf.append(
        f"smtpd_recipient_restrictions = check_recipient_access texthash:{mx_maps}/hold"
    )
    refusing = (f"myhostname={MX3_HOST}", "smtpd_client_restrictions=reject")
    mx = PostfixLab(
        workdir / "mx",
        {
            MX1_IP: _leaf_listener(ca, [MX1_HOST, MX1_IP]),
            MX3_IP: _leaf_listener(ca, [MX3_HOST, MX3_IP], options=refusing),
        },
        MX1_HOST,
        main_cf_extra=mx_main_cf,
    )
    outside = PostfixLab(
        workdir / "outside",
        {OUTSIDE_MX_IP: _leaf_listener(ca, [OUTSIDE_MX_HOST, OUTSIDE_MX_IP])},
        OUTSIDE_MX_HOST,
        main_cf_extra=_virtual_delivery(
            workdir / "outside-maps", dovecot.mail_root, {OUTSIDE_ADDRESS: "outside/Maildir/"}
        ),
    )
    milter_port = free_port("127.0.0.1")
    relay = f"[{OUTSIDE_MX_IP}]:25"
    submission = _submission_options(auth_socket)
    # The second listener hands its mail to the "unlisted" transport (content_filter), an
    # smtp client bound to the address SPF does not name.
    unlisted = (*submission, f"content_filter=unlisted:{relay}")
    submit = PostfixLab(
        workdir / "submit",
        {
            SUBMIT_IP: _leaf_listener(ca, [SUBMIT_HOST, SUBMIT_IP], SUBMISSION_PORT, submission),
            SUBMIT_UNLISTED_IP: _leaf_listener(
                ca, [SUBMIT_UNLISTED_HOST, SUBMIT_UNLISTED_IP], SUBMISSION_PORT, unlisted
            ),
        },
        SUBMIT_HOST,
        main_cf_extra=[
            f"relayhost = {relay}",
            f"smtp_bind_address = {SUBMIT_IP}",
            "smtp_tls_security_level = may",
            f"smtpd_milters = inet:127.0.0.1:{milter_port}",
            "non_smtpd_milters = $smtpd_milters",
            # A milter that is down must hold mail back, never let it out unsigned.
            "milter_default_action = tempfail",
            *QUIET,
        ],
        master_cf_extra=[
            "unlisted unix - - n - - smtp"
            f" -o smtp_bind_address={SUBMIT_UNLISTED_IP} -o smtp_helo_name={SUBMIT_UNLISTED_HOST}"
        ],
    )
    milter_dir = workdir / "milter"
    milter_dir.mkdir()
    milter_conf = milter_dir / "dkimpy-milter.conf"
    # Foreground, no syslog (there is none here); it reads the key as root, then runs as
    # the dkimpy-milter user. Signs mail whose From domain is example.test.
    milter_conf.write_text(
        "Syslog no\n"
        "Mode s\n"
        f"Domain {ZONE}\n"
        f"Selector {DKIM_SELECTOR}\n"
        f"KeyFile {key_file}\n"
        f"Socket inet:{milter_port}@127.0.0.1\n"
    )
    return Servers(dns, dovecot, mx, submit, outside, milter_conf, milter_port)


def processes_under(markers: list[str]) -> list[int]:
    """Live processes whose argv, working directory or environment (Postfix's MAIL_CONFIG)
    mentions one of `markers`: Postfix daemons sit in their queue directory and Dovecot's in
    its base_dir, with argv that names neither."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            seen = (entry / "cmdline").read_bytes() + b"\0" + (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or a zombie
            continue
        if any(cwd.startswith(marker) or marker.encode() in seen for marker in markers):
            found.append(int(entry.name))
    return found
