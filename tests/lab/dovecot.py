"""A real Dovecot IMAP server on loopback, its own instance under its own directory.

    pytest_plugins = ["tests.lab.dovecot_lab"]       # the fixtures; this module has the lab

    def test_x(dovecot_lab_module):
        lab = dovecot_lab_module("127.0.92.1", cert=ca.issue_cert("imap.example.test"))
        lab.imap_port, lab.imaps_port      # 143 (STARTTLS when a cert is given), 993 (or None)
        lab.users                          # {"canary": "secret"}: a passwd-file user (logs in)
        lab.deliver("canary", message)     # put a message in the user's INBOX (Maildir new/)
        lab.stop(keep_files=True); lab.start()   # down for a moment, same mailboxes after

`extra_config` appends Dovecot settings (tests/lab/mail_flow.py adds an auth socket for
Postfix SASL and a special-use Junk mailbox).

Settings follow /work/shared/lab-notes.md: `dovecot -F -c DIR/dovecot.conf`, base and state
directories under DIR, a passwd-file passdb, a static userdb (uid nobody: imap-login refuses
root and uid 0 fails at SELECT), Maildir under DIR/mail. Without a certificate `ssl = no` and
no imaps listener; with one (a trustme leaf) STARTTLS on 143 and implicit TLS on 993. Root can
bind both ports on any 127.0.0.0/8 address. DIR is made with mkdtemp (short paths for the unix
sockets, mode 0755 so the login user can enter it), never under pytest's 0700 tmp dirs.
Starts in about 1-2 s. Where Dovecot is missing the fixture skips, except under CI=true.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import trustme

from tests.lab import LabError, ServerProcess, find_program, missing_in_lab

IMAP_PORT = 143
IMAPS_PORT = 993
DEFAULT_USERS: Mapping[str, str] = {"canary": "secret"}
MAIL_UID_USER, MAIL_GROUP = "nobody", "nogroup"


def require_dovecot() -> None:
    """Skip the test when Dovecot is missing; fail instead under CI, where it must run."""
    if find_program("dovecot") is None:
        missing_in_lab(
            "the IMAP lab needs dovecot (Debian package dovecot-imapd, listed in "
            "tests/debian-packages.txt; tests/run installs it as root)"
        )


def _greets(ip: str, port: int) -> None:
    """Raises OSError/LabError until ip:port accepts and sends an IMAP greeting."""
    with socket.create_connection((ip, port), timeout=0.5) as connection:
        if port == IMAPS_PORT:
            return  # a TLS listener says nothing before the handshake: accepting is enough
        greeting = connection.recv(512)
        if not greeting.startswith(b"* OK"):
            raise LabError(f"unexpected greeting {greeting[:80]!r}")


class DovecotLab:
    """One Dovecot instance on `address` (IMAP on 143, and IMAPS on 993 when `cert` is given)."""

    def __init__(
        self,
        address: str,
        *,
        cert: trustme.LeafCert | None = None,
        users: Mapping[str, str] = DEFAULT_USERS,
        extra_config: str = "",
    ):
        """`extra_config`: Dovecot settings appended to the lab's own, for instance an auth
        `unix_listener` for Postfix SASL or a namespace with special-use mailboxes."""
        self.address = address
        self.cert = cert
        self.users = dict(users)
        self.extra_config = extra_config
        self.workdir = Path(tempfile.mkdtemp(prefix="dovecotlab-"))
        self.workdir.chmod(0o755)
        self.conf = self.workdir / "dovecot.conf"
        self.mail_root = self.workdir / "mail"
        self.process: ServerProcess | None = None

    @property
    def imap_port(self) -> int:
        return IMAP_PORT

    @property
    def imaps_port(self) -> int | None:
        return IMAPS_PORT if self.cert is not None else None

    def maildir(self, user: str) -> Path:
        return self.mail_root / user / "Maildir"

    def _write_config(self) -> None:
        d = self.workdir
        for sub in ("run", "state", "tls"):
            (d / sub).mkdir(exist_ok=True)
        self.mail_root.mkdir(exist_ok=True)
        shutil.chown(self.mail_root, MAIL_UID_USER, MAIL_GROUP)
        lines = [f"{name}:{{PLAIN}}{password}" for name, password in self.users.items()]
        (d / "users").write_text("\n".join(lines) + "\n")
        if self.cert is not None:
            cert_path, key_path = d / "tls" / "cert.pem", d / "tls" / "key.pem"
            cert_path.write_bytes(b"".join(blob.bytes() for blob in self.cert.cert_chain_pems))
            key_path.write_bytes(self.cert.private_key_pem.bytes())
            key_path.chmod(0o600)
            tls = f"ssl = yes\nssl_cert = <{cert_path}\nssl_key = <{key_path}\n"
            imaps = f"  inet_listener imaps {{\n    port = {IMAPS_PORT}\n    ssl = yes\n  }}\n"
        else:
            tls = "ssl = no\n"
            imaps = "  inet_listener imaps {\n    port = 0\n  }\n"
        self.conf.write_text(
            "protocols = imap\n"
            f"listen = {self.address}\n"
            f"base_dir = {d / 'run'}\n"
            f"state_dir = {d / 'state'}\n"
            f"log_path = {d / 'dovecot.log'}\n" + tls + "disable_plaintext_auth = no\n"
            "auth_mechanisms = plain login\n"
            "passdb {\n  driver = passwd-file\n"
            f"  args = scheme=PLAIN username_format=%u {d / 'users'}\n}}\n"
            "userdb {\n  driver = static\n"
            f"  args = uid={MAIL_UID_USER} gid={MAIL_GROUP} home={self.mail_root}/%u\n}}\n"
            f"mail_location = maildir:{self.mail_root}/%u/Maildir\n"
            "service imap-login {\n"
            f"  inet_listener imap {{\n    port = {IMAP_PORT}\n  }}\n" + imaps + "}\n"
            "default_internal_user = dovecot\n"
            "default_login_user = dovenull\n"
            "default_internal_group = dovecot\n" + self.extra_config
        )

    def start(self, within: float = 10.0) -> None:
        if self.process is not None:
            return
        self._write_config()
        program = find_program("dovecot")
        if program is None:
            raise LabError("dovecot is not installed")
        logs = [self.workdir / "dovecot.out", self.workdir / "dovecot.log"]
        self.process = ServerProcess(
            f"dovecot {self.address}", [program, "-F", "-c", str(self.conf)], self.conf, logs
        )
        try:
            ports = [IMAP_PORT] + ([IMAPS_PORT] if self.cert is not None else [])
            for port in ports:
                self.process.wait_until(
                    lambda port=port: _greets(self.address, port),
                    f"greeting on {self.address}:{port}",
                    within=within,
                )
        except BaseException:
            self.stop()
            raise

    def deliver(self, user: str, message: bytes) -> Path:
        """Put `message` in `user`'s INBOX as a new Maildir file (owned by the mail user)."""
        maildir = self.maildir(user)
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.lab"
        staged = maildir / "tmp" / name
        staged.write_bytes(message)
        final = maildir / "new" / name
        staged.rename(final)
        for path in [self.mail_root / user, *maildir.rglob("*"), maildir]:
            shutil.chown(path, MAIL_UID_USER, MAIL_GROUP)
        return final

    def log_tail(self, lines: int = 20) -> str:
        return "" if self.process is None else self.process.log_tail(lines)

    def stop(self, *, keep_files: bool = False) -> None:
        """Stop the server; `keep_files=True` keeps the mailboxes and config, so that
        start() brings the same server back (an "IMAP down" moment inside one test)."""
        if self.process is not None:
            self.process.stop()
            self.process = None
        if not keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)


DovecotFactory = Callable[..., DovecotLab]
