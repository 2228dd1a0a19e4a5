"""Finding a canary by IMAP against a real Dovecot on loopback (127.0.77.x): folders (INBOX,
\\Junk special-use, the common Junk names, a non-ASCII name), IDLE waking the search at once,
fetching, deleting, the 2 MB limit, TLS (implicit and STARTTLS, trusted and not), a server that
is down and a password that is refused."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from cockpit.auth.tlsinfo import trust_context
from cockpit.canary.imap_find import (
    MAX_MESSAGE_BYTES,
    POLL_SECONDS,
    Folder,
    ImapPlace,
    ImapSession,
    ImapUnavailable,
    Oversize,
)
from cockpit.canary.imap_wire import decode_mailbox, encode_mailbox
from cockpit.canary.message import new_token
from cockpit.canary.secrets import Secret
from cockpit.canary.watchdog import Watchdog
from tests.lab.dovecot import MAIL_GROUP, MAIL_UID_USER, DovecotLab, require_dovecot

IMAP_IP = "127.0.77.1"
DEAD_IP = "127.0.77.9"
HOST = "imap.canary.test"
PASSWORD = "Imap-Pw-77-zq"
SPECIAL_USE = """
namespace inbox {
  inbox = yes
  mailbox Quarantine {
    auto = create
    special_use = \\Junk
  }
}
"""


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def dovecot(ca: trustme.CA) -> Iterator[DovecotLab]:
    require_dovecot()
    lab = DovecotLab(
        IMAP_IP,
        cert=ca.issue_cert(HOST, IMAP_IP),
        users={"canary": PASSWORD},
        extra_config=SPECIAL_USE,
    )
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("imap-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def deliver(lab: DovecotLab, folder: str, raw: bytes) -> None:
    """Put `raw` in `folder` (Maildir++: ".Name" below the Maildir; INBOX is the Maildir)."""
    if folder == "INBOX":
        lab.deliver("canary", raw)
        return
    maildir = lab.maildir("canary")
    box = maildir / f".{encode_mailbox(folder)}"
    for sub in ("tmp", "new", "cur"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    name = f"{time.time():.6f}.{uuid.uuid4().hex}.lab"
    (box / "tmp" / name).write_bytes(raw)
    (box / "tmp" / name).rename(box / "new" / name)
    for path in [lab.mail_root / "canary", maildir, *maildir.rglob("*")]:
        shutil.chown(path, MAIL_UID_USER, MAIL_GROUP)


def canary(token: str, size: int = 0) -> bytes:
    body = ("x" * 76 + "\r\n") * (size // 78 + 1) if size else "A delivery test.\r\n"
    return (
        f"From: <probe@outside.test>\r\nTo: <canary@canary.test>\r\nSubject: canary {token}\r\n"
        f"X-Cockpit-Canary: {token}\r\n\r\n{body}"
    ).encode()


def session(
    ca_file: Path | None,
    *,
    tls: str = "implicit",
    ip: str = IMAP_IP,
    password: str = PASSWORD,
    seconds: float = 20.0,
) -> tuple[ImapSession, Watchdog]:
    port = 993 if tls == "implicit" else 143
    watch = Watchdog(time.monotonic() + seconds)  # deadline only: the run's own bound
    context = trust_context(ca_file, check_hostname=True)
    opened = ImapSession.open(
        ImapPlace(HOST, ip, port, tls), "canary", Secret(password), context, watch
    )
    return opened, watch


def test_default_folders_are_inbox_special_use_junk_and_common_names(
    dovecot: DovecotLab, ca_file: Path
) -> None:
    deliver(dovecot, "Junk", canary(new_token("setup")))  # a common name that now exists
    imap, _ = session(ca_file)
    try:
        folders = imap.folders(None)
    finally:
        imap.close()
    assert [(f.name, f.junk) for f in folders] == [
        ("INBOX", False),
        ("Quarantine", True),
        ("Junk", True),
    ]


@pytest.mark.parametrize("folder", ["INBOX", "Junk", "Quarantine", "Indésirables"])
def test_found_in_its_folder_then_deleted(dovecot: DovecotLab, ca_file: Path, folder: str) -> None:
    token = new_token("find")
    deliver(dovecot, folder, canary(token))
    deliver(dovecot, folder, canary(new_token("other")))  # another canary's message stays
    imap, watch = session(ca_file)
    try:
        folders = imap.folders(["INBOX", "Junk", "Quarantine", "Indésirables"])
        found = imap.find(token, folders, until=time.monotonic() + 5, watch=watch)
        assert found is not None and found.folder.name == folder
        # junk: a common Junk name, or \Junk special-use; any other folder is not
        assert found.folder.junk is (folder in ("Junk", "Quarantine"))
        raw = imap.fetch(found, watch)
        assert isinstance(raw, bytes) and token.encode() in raw
        assert imap.delete(found)
        assert imap.search(found.folder, token) == ()
        assert len(imap.search(found.folder, "other-" + "0" * 20)) == 0
    finally:
        imap.close()


def test_idle_wakes_the_search_when_the_message_arrives(dovecot: DovecotLab, ca_file: Path) -> None:
    token = new_token("idle")
    imap, watch = session(ca_file)
    assert "IDLE" in imap.imap.capabilities
    delivered_at: list[float] = []

    def later() -> None:
        deliver(dovecot, "INBOX", canary(token))
        delivered_at.append(time.monotonic())

    timer = threading.Timer(1.5, later)
    try:
        folders = imap.folders(["INBOX"])
        timer.start()
        found = imap.find(token, folders, until=time.monotonic() + 15, watch=watch)
        assert found is not None
        # IDLE waits up to 5 s per slice: found well before that, it was woken by the server
        assert found.at - delivered_at[0] < 2.0
        imap.delete(found)
    finally:
        timer.cancel()
        imap.close()


def test_without_idle_the_search_polls(dovecot: DovecotLab, ca_file: Path) -> None:
    token = new_token("poll")
    imap, watch = session(ca_file)
    # as a server that does not offer IDLE: the client must poll instead
    imap.imap.capabilities = tuple(c for c in imap.imap.capabilities if c != "IDLE")
    timer = threading.Timer(1.0, lambda: deliver(dovecot, "INBOX", canary(token)))
    try:
        folders = imap.folders(["INBOX"])
        timer.start()
        started = time.monotonic()
        found = imap.find(token, folders, until=started + 15, watch=watch)
        assert found is not None and found.at - started < 1.0 + POLL_SECONDS + 1.0
        imap.delete(found)
    finally:
        timer.cancel()
        imap.close()


def test_not_found_ends_at_the_deadline(dovecot: DovecotLab, ca_file: Path) -> None:
    imap, watch = session(ca_file)
    try:
        folders = imap.folders(None)
        started = time.monotonic()
        assert imap.find(new_token("lost"), folders, until=started + 3, watch=watch) is None
        assert 3 <= time.monotonic() - started < 3 + 2
    finally:
        imap.close()


def test_a_message_over_2_mb_is_not_read(dovecot: DovecotLab, ca_file: Path) -> None:
    token = new_token("big")
    deliver(dovecot, "INBOX", canary(token, size=MAX_MESSAGE_BYTES + 1000))
    imap, watch = session(ca_file)
    try:
        found = imap.find(token, imap.folders(["INBOX"]), until=time.monotonic() + 5, watch=watch)
        assert found is not None
        result = imap.fetch(found, watch)
        assert isinstance(result, Oversize) and result.size > MAX_MESSAGE_BYTES
        assert imap.delete(found)
    finally:
        imap.close()


def test_starttls_on_143(dovecot: DovecotLab, ca_file: Path) -> None:
    imap, _ = session(ca_file, tls="starttls")
    try:
        assert imap.imap.sock.version() is not None  # type: ignore[attr-defined]
        assert imap.folders(["INBOX"]) == [Folder("INBOX", "INBOX", False)]
    finally:
        imap.close()


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"ip": DEAD_IP}, f"imap {HOST}:993: connection refused"),
        ({"password": "wrong-Password-1"}, "login as canary"),
        ({"ca_file": None}, "certificate not trusted"),
        ({"ca_file": None, "tls": "starttls"}, "certificate not trusted"),
    ],
    ids=["down", "wrong-password", "untrusted-implicit", "untrusted-starttls"],
)
def test_unavailable_says_why_and_never_the_password(
    dovecot: DovecotLab, ca_file: Path, options: dict[str, object], reason: str
) -> None:
    arguments: dict[str, object] = {"ca_file": ca_file, **options}
    ca = arguments.pop("ca_file")
    started = time.monotonic()
    with pytest.raises(ImapUnavailable) as raised:
        session(ca, **arguments)  # type: ignore[arg-type]
    assert reason in raised.value.reason
    assert PASSWORD not in raised.value.reason and "wrong-Password-1" not in raised.value.reason
    assert time.monotonic() - started < 10


def test_mailbox_names_round_trip() -> None:
    for name in ("INBOX", "Junk E-mail", "[Gmail]/Spam", "Indésirables", "A&B", "日本語"):
        assert decode_mailbox(encode_mailbox(name)) == name
    assert encode_mailbox("Indésirables") == "Ind&AOk-sirables"
    assert encode_mailbox("A&B") == "A&-B"
    assert decode_mailbox("broken&-x&!!-") == "broken&x&!!-"
