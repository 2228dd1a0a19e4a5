"""A real Postfix on loopback port 25, one instance with several smtpd listeners.

    lab = postfix_lab({"127.0.25.1": Listener(cert=leaf_pem_chain, key=key_pem), ...})
    lab.addresses        # ("127.0.25.1", ...)

A Listener can also take another port (587 for submission) and its own `-o` options, and
PostfixLab more main.cf and master.cf lines (`main_cf_extra`, `master_cf_extra`): enough for
the mail-flow lab (tests/lab/mail_flow.py) to build an MX delivering to Dovecot mailboxes, a
signing submission service and an outside receiver from the same class.

Each listener is an `IP:smtp inet ... smtpd` line in master.cf with its own `-o` overrides, so
one `postfix start` (about half a second) serves a good certificate on one address, a wrong-name
or expired one on another, and no STARTTLS on a third. The instance lives under its own
directory (config, queue, data, log) as /work/shared/lab-notes.md describes: chroot off, every
parent directory enterable by the `postfix` user, started under `script` so a fatal error is
seen, stopped with `postfix stop` and waited for until master.pid is gone.

The fixtures live in postfix_lab.py: in a test module, add
`pytest_plugins = ["tests.lab.postfix_lab"]` and use the `postfix_lab` (per test) or
`postfix_lab_module` (per module) factory. Where Postfix is missing the fixture skips, except
under CI=true where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.lab import LabError, find_program, missing_in_lab, pids_running

SMTP_PORT = 25
PROGRAMS = ("postfix", "postconf")


@dataclass(frozen=True)
class Listener:
    """One smtpd on one loopback address: STARTTLS with `cert`/`key` (PEM), or none at all."""

    cert_pem: bytes | None = None
    """Leaf first, then any intermediates; None: STARTTLS is not offered."""
    key_pem: bytes | None = None
    port: int = SMTP_PORT
    """25 (an MX), or for instance 587 (a submission service)."""
    options: tuple[str, ...] = ()
    """More `name=value` overrides for this smtpd only (master.cf `-o`, no spaces in a value),
    applied after the TLS ones, so they can replace them (e.g. smtpd_tls_security_level=encrypt)."""


def require_postfix() -> None:
    """Skip the test when Postfix is missing; fail instead under CI, where it must run."""
    missing = [name for name in PROGRAMS if find_program(name) is None]
    if not missing:
        return
    reason = (
        f"the SMTP lab needs {', '.join(missing)} (Debian package postfix, listed in "
        "tests/debian-packages.txt; tests/run installs it as root)"
    )
    missing_in_lab(reason)


def _run(argv: list[str], what: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise LabError(f"{what} failed ({done.returncode}): {done.stdout} {done.stderr}")
    return done.stdout


def _accepts(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.2):
            return True
    except OSError:
        return False


def _make_enterable(path: Path) -> None:
    """Postfix drops privileges: every parent of its directory must be searchable by others."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o011)


class PostfixLab:
    """One Postfix instance under `workdir` with one smtpd per listener address."""

    def __init__(
        self,
        workdir: Path,
        listeners: Mapping[str, Listener],
        hostname: str,
        *,
        main_cf_extra: Sequence[str] = (),
        master_cf_extra: Sequence[str] = (),
    ):
        """`main_cf_extra`: more `name = value` main.cf lines, replacing the lab's own line of
        the same name (e.g. relayhost); `master_cf_extra`: more master.cf service lines."""
        self.workdir = workdir
        self.listeners = dict(listeners)
        self.hostname = hostname
        self.main_cf_extra = tuple(main_cf_extra)
        self.master_cf_extra = tuple(master_cf_extra)
        self.etc = workdir / "etc"
        self.spool = workdir / "spool"
        self._started = False

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(self.listeners)

    def _write_config(self) -> None:
        d = self.workdir
        for sub in (self.etc, self.spool, d / "data", d / "tls"):
            sub.mkdir(parents=True, exist_ok=True)
        _make_enterable(d)
        shutil.chown(d / "data", user="postfix")
        main_cf = (
            "compatibility_level = 3.6\n"
            f"config_directory = {self.etc}\n"
            f"queue_directory = {self.spool}\n"
            f"data_directory = {d / 'data'}\n"
            f"myhostname = {self.hostname}\n"
            "mydestination =\n"
            "relayhost = [127.0.0.1]:9\n"
            # Postfix refuses addresses that are not an interface's own (127.0.25.1 is only
            # routed to lo); the master.cf lines below bind them explicitly.
            "inet_interfaces = loopback-only\n"
            "inet_protocols = ipv4\n"
            "smtp_dns_support_level = disabled\n"
            f"maillog_file = {d / 'maillog'}\n"
            f"maillog_file_prefixes = {d}\n"
            "smtpd_tls_security_level = none\n"
        )
        (self.etc / "main.cf").write_text(_merged_main_cf(main_cf, self.main_cf_extra))
        shutil.copy("/etc/postfix/master.cf", self.etc / "master.cf")
        lines = []
        for index, (ip, listener) in enumerate(self.listeners.items()):
            options = ["-o smtpd_tls_security_level=none"]
            if listener.cert_pem is not None and listener.key_pem is not None:
                cert = d / "tls" / f"cert{index}.pem"
                key = d / "tls" / f"key{index}.pem"
                cert.write_bytes(listener.cert_pem)
                key.write_bytes(listener.key_pem)
                key.chmod(0o600)
                options = [
                    "-o smtpd_tls_security_level=may",
                    f"-o smtpd_tls_cert_file={cert}",
                    f"-o smtpd_tls_key_file={key}",
                ]
            options += [f"-o {option}" for option in listener.options]
            service = "smtp" if listener.port == SMTP_PORT else str(listener.port)
            lines.append(f"{ip}:{service} inet n - n - - smtpd " + " ".join(options))
        master = (self.etc / "master.cf").read_text()
        # The stock "smtp inet" line would bind every inet_interfaces address a second time.
        kept = [line for line in master.splitlines() if not line.startswith("smtp      inet")]
        (self.etc / "master.cf").write_text(
            "\n".join([*kept, *lines, *self.master_cf_extra]) + "\n"
        )
        _run([_program("postconf"), "-c", str(self.etc), "-F", "*/*/chroot = n"], "postconf -F")

    def start(self, within: float = 10.0) -> None:
        if self._started:
            return
        self._started = True
        try:
            self._write_config()
            command = f"{_program('postfix')} -c {self.etc} start"
            done = subprocess.run(
                ["script", "-qec", command, "/dev/null"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if done.returncode != 0:
                raise LabError(
                    f"postfix start failed: {done.stdout} {done.stderr}\n{self.log_tail()}"
                )
            deadline = time.monotonic() + within
            waiting = [(ip, listener.port) for ip, listener in self.listeners.items()]
            while waiting and time.monotonic() < deadline:
                waiting = [(ip, port) for ip, port in waiting if not _accepts(ip, port)]
                if waiting:
                    time.sleep(0.05)
            if waiting:
                raise LabError(f"postfix: {waiting} not accepting\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def release_held(self) -> None:
        """Every message in the hold queue back to the active queue, and delivery at once."""
        _run([_program("postsuper"), "-c", str(self.etc), "-H", "ALL"], "postsuper -H")
        _run([_program("postqueue"), "-c", str(self.etc), "-f"], "postqueue -f")

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.workdir / "maillog").read_text(errors="replace")
        except OSError:
            return "(no maillog)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, within: float = 10.0) -> None:
        """`postfix stop`, then wait until master.pid is gone; kill leftovers as a backstop."""
        if not self._started:
            return
        self._started = False
        subprocess.run(
            [_program("postfix"), "-c", str(self.etc), "stop"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        # master.pid stays behind after the stop: wait for the process it names to be gone.
        try:
            master_pid = int((self.spool / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            master_pid = None
        deadline = time.monotonic() + within
        while master_pid is not None and time.monotonic() < deadline:
            if not Path(f"/proc/{master_pid}").exists():
                break
            time.sleep(0.05)
        for pid in pids_running(str(self.etc)):
            try:
                os.kill(pid, 9)
            except OSError:
                pass


def _parameter_name(line: str) -> str:
    return line.split("=", 1)[0].strip()


def _merged_main_cf(base: str, extra: Sequence[str]) -> str:
    """`base` with `extra` appended; an extra line replaces the base line of the same name
    (Postfix would take the later one too, but warns about each duplicate)."""
    replaced = {_parameter_name(line) for line in extra}
    kept = [line for line in base.splitlines() if _parameter_name(line) not in replaced]
    return "\n".join([*kept, *extra]) + "\n"


def _program(name: str) -> str:
    path = find_program(name)
    if path is None:
        raise LabError(f"{name} is not installed")
    return path


PostfixFactory = Callable[..., PostfixLab]
