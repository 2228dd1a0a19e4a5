"""[[canary]] in the config (defaults, every error with its line), and the canary's secrets:
read from the environment or an owner-only file, and never shown."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from cockpit.canary.secrets import Secret, SecretUnavailable, read_secret
from cockpit.config import load_config_text
from cockpit.config.model import SecretSource
from cockpit.errors import ConfigError

REGIONS = """\
[domain]
name = "example.test"

[[region]]
name = "primary"
mx = ["mx1.example.test"]

[[region]]
name = "secondary"
mx = ["mx3.example.test"]
"""

INBOUND = """
[[canary]]
name = "eu-in"
direction = "inbound"
region = "primary"
from = "probe@outside.test"
to = "canary@example.test"
imap = "imap.example.test"
imap_user = "canary"
imap_password_env = "CANARY_IMAP_PW"
"""

OUTBOUND = """
[[canary]]
name = "eu-out"
direction = "outbound"
from = "sender@example.test"
to = "outside@outside.test"
imap = "imap.outside.test:143"
imap_user = "outside"
imap_password_file = "secrets/imap.pw"
submission = "submit.example.test"
submission_user = "sender"
submission_password_env = "CANARY_SUBMISSION_PW"
folders = ["INBOX", "Indésirables"]
trusted_authserv_ids = ["MX.Outside.Test"]
delete = false
interval = 60
timeout = 30
"""


def test_defaults_and_derived_values(tmp_path: Path) -> None:
    config = load_config_text(REGIONS + INBOUND + OUTBOUND, base_dir=tmp_path)
    inbound, outbound = config.canaries
    assert (inbound.name, inbound.direction, inbound.region) == ("eu-in", "inbound", "primary")
    assert (inbound.interval, inbound.timeout, inbound.warn_s) == (300.0, 120.0, 60.0)
    assert (inbound.imap_host, inbound.imap_port, inbound.imap_tls) == (
        "imap.example.test",
        993,
        "implicit",
    )
    assert inbound.imap_password == SecretSource(env="CANARY_IMAP_PW")
    assert inbound.folders is None and inbound.delete is True and inbound.mx_port is None
    assert inbound.submission_host is None
    assert outbound.region == "target"
    assert (outbound.imap_port, outbound.imap_tls) == (143, "starttls")
    assert outbound.imap_password == SecretSource(file=tmp_path / "secrets/imap.pw")
    assert (outbound.submission_host, outbound.submission_port, outbound.submission_tls) == (
        "submit.example.test",
        587,
        "starttls",
    )
    assert outbound.submission_password == SecretSource(env="CANARY_SUBMISSION_PW")
    assert outbound.folders == ("INBOX", "Indésirables")
    assert outbound.trusted_authserv_ids == ("mx.outside.test",)
    assert (outbound.delete, outbound.interval, outbound.timeout, outbound.warn_s) == (
        False,
        60.0,
        30.0,
        15.0,
    )
    assert load_config_text(REGIONS).canaries == ()


def test_submission_on_465_is_implicit_tls() -> None:
    text = OUTBOUND.replace('"submit.example.test"', '"submit.example.test:465"')
    (canary,) = load_config_text(REGIONS + text).canaries
    assert (canary.submission_port, canary.submission_tls) == (465, "implicit")


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as raised:
        load_config_text(text)
    return [(p.line, p.key_path, p.message) for p in raised.value.problems]


BAD = [
    (
        "missing-key",
        INBOUND.replace('to = "canary@example.test"\n', ""),
        "[[canary]]",
        "canary[0].to",
        "missing required key 'to'",
    ),
    (
        "both-env-and-file",
        INBOUND + 'imap_password_file = "pw"\n',
        'imap_password_file = "pw"',
        "canary[0].imap_password_file",
        "not both",
    ),
    (
        "no-password-source",
        INBOUND.replace('imap_password_env = "CANARY_IMAP_PW"\n', ""),
        "[[canary]]",
        "canary[0].imap_password_env",
        "a password never goes in the config",
    ),
    (
        "interval-under-30",
        INBOUND + "interval = 29\n",
        "interval = 29",
        "canary[0].interval",
        "from 30 to 86400, found 29",
    ),
    (
        "unknown-region",
        INBOUND.replace('region = "primary"', 'region = "primry"'),
        'region = "primry"',
        "canary[0].region",
        'did you mean "primary"',
    ),
    (
        "imap-tls-none-to-a-name",
        INBOUND + 'imap_tls = "none"\n',
        'imap_tls = "none"',
        "canary[0].imap_tls",
        "only to a loopback IP address",
    ),
    (
        "imap-tls-none-to-a-public-ip",
        INBOUND.replace('"imap.example.test"', '"192.0.2.1"') + 'imap_tls = "none"\n',
        'imap_tls = "none"',
        "canary[0].imap_tls",
        "in clear",
    ),
    (
        "warn-not-below-timeout",
        INBOUND + "timeout = 30\nwarn_s = 30\n",
        "warn_s = 30",
        "canary[0].warn_s",
        "below timeout",
    ),
    (
        "timeout-too-long",
        INBOUND + "timeout = 3601\n",
        "timeout = 3601",
        "canary[0].timeout",
        "at most 3600",
    ),
    (
        "bad-address",
        INBOUND.replace('"canary@example.test"', '"Canary <canary@example.test>"'),
        "Canary <canary@",
        "canary[0].to",
        "without",
    ),
    (
        "submission-on-inbound",
        INBOUND + 'submission = "submit.example.test"\n',
        'submission = "submit',
        "canary[0].submission",
        'only for direction = "outbound"',
    ),
    (
        "outbound-without-submission",
        OUTBOUND.replace('submission = "submit.example.test"\n', ""),
        "[[canary]]",
        "canary[0].submission",
        "needs 'submission'",
    ),
    (
        "mx-port-on-outbound",
        OUTBOUND + "mx_port = 2525\n",
        "mx_port = 2525",
        "canary[0].mx_port",
        'only for direction = "inbound"',
    ),
    (
        "duplicate-name",
        INBOUND + INBOUND.replace('"eu-in"', '"EU-IN"'),
        'name = "EU-IN"',
        "canary[1].name",
        "duplicate canary name",
    ),
    (
        "env-name",
        INBOUND.replace('"CANARY_IMAP_PW"', '"1BAD-NAME"'),
        "1BAD-NAME",
        "canary[0].imap_password_env",
        "environment variable name",
    ),
    (
        "unknown-key",
        INBOUND + 'imap_pasword = "x"\n',
        "imap_pasword",
        "canary[0].imap_pasword",
        "did you mean",
    ),
    (
        "single-table",
        INBOUND.replace("[[canary]]", "[canary]"),
        "[canary]",
        "canary",
        "write [[canary]]",
    ),
]


@pytest.mark.parametrize(
    ("extra", "line_text", "key_path", "message"),
    [row[1:] for row in BAD],
    ids=[row[0] for row in BAD],
)
def test_config_errors_name_line_key_and_reason(
    extra: str, line_text: str, key_path: str, message: str
) -> None:
    text = REGIONS + extra
    problems = _problems(text)
    matching = [p for p in problems if p[1] == key_path]
    assert matching, problems
    line, _, text_found = matching[0]
    assert message in text_found
    if line_text == "[[canary]]":
        expected_lines = [i for i, row in enumerate(text.splitlines(), 1) if row == "[[canary]]"]
        assert line in expected_lines
    else:
        assert line == _line_of(text, line_text)


# ---- secrets ---------------------------------------------------------------------------------

PASSWORD = "Canary-Pw-9f3e-secret"


def test_secret_never_shows_itself() -> None:
    secret = Secret(PASSWORD)
    shown = [repr(secret), str(secret), f"{secret}", f"{secret:>30}", repr([secret])]
    assert all(PASSWORD not in text for text in shown)
    assert secret.reveal() == PASSWORD
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert secret != Secret(PASSWORD)


def test_scrub_removes_the_password_and_its_login_encodings() -> None:
    import base64

    secret = Secret(PASSWORD)
    plain = base64.b64encode(f"\0sender\0{PASSWORD}".encode()).decode()
    echoed = f"535 bad {PASSWORD} / {plain} / {base64.b64encode(PASSWORD.encode()).decode()}"
    assert secret.scrub(echoed, user="sender") == "535 bad *** / *** / ***"


def test_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    source = SecretSource(env="CANARY_IMAP_PW")
    monkeypatch.setenv("CANARY_IMAP_PW", PASSWORD)
    assert read_secret(source, "imap password").reveal() == PASSWORD
    monkeypatch.setenv("CANARY_IMAP_PW", "")
    with pytest.raises(SecretUnavailable) as empty:
        read_secret(source, "imap password")
    assert empty.value.reason == "imap password not set: env CANARY_IMAP_PW is empty"
    monkeypatch.delenv("CANARY_IMAP_PW")
    with pytest.raises(SecretUnavailable) as unset:
        read_secret(source, "imap password")
    assert "env CANARY_IMAP_PW is not set" in unset.value.reason


@pytest.mark.parametrize(
    ("mode", "refused"),
    [(0o600, False), (0o400, False), (0o644, True), (0o640, True), (0o604, True), (0o620, True)],
    ids=["0600", "0400", "0644", "0640", "0604", "0620"],
)
def test_secret_file_mode(tmp_path: Path, mode: int, refused: bool) -> None:
    path = tmp_path / "imap.pw"
    path.write_text(PASSWORD + "\n")
    path.chmod(mode)
    source = SecretSource(file=path)
    if not refused:
        assert read_secret(source, "imap password").reveal() == PASSWORD
        return
    with pytest.raises(SecretUnavailable) as raised:
        read_secret(source, "imap password")
    reason = raised.value.reason
    assert str(path) in reason and f"mode {mode:04o}" in reason
    assert PASSWORD not in reason and PASSWORD not in str(raised.value)


def test_secret_file_problems_never_quote_the_file(tmp_path: Path) -> None:
    directory = tmp_path / "dir.pw"
    directory.mkdir(mode=0o700)
    empty = tmp_path / "empty.pw"
    empty.write_text("")
    empty.chmod(0o600)
    huge = tmp_path / "huge.pw"
    huge.write_text(PASSWORD * 1000)
    huge.chmod(0o600)
    link = tmp_path / "link.pw"
    target = tmp_path / "target.pw"
    target.write_text(PASSWORD)
    target.chmod(0o600)
    os.symlink(target, link)
    assert read_secret(SecretSource(file=link), "x").reveal() == PASSWORD  # secret mounts
    for path, reason in (
        (tmp_path / "missing.pw", "does not exist"),
        (directory, "not a regular file"),
        (empty, "is empty"),
        (huge, "larger than"),
    ):
        with pytest.raises(SecretUnavailable) as raised:
            read_secret(SecretSource(file=path), "imap password")
        assert reason in raised.value.reason
        assert PASSWORD not in raised.value.reason


def test_the_example_canary_pair_loads_once_uncommented() -> None:
    example = Path(__file__).resolve().parent.parent / "config.example.toml"
    text = example.read_text(encoding="utf-8")
    block = text[text.index("# [[canary]]") :]
    block = block[: block.find("\n# ----")] if "\n# ----" in block else block  # this section
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") else "" for line in block.splitlines()
    )
    config = load_config_text(text + "\n" + uncommented, base_dir=example.parent)
    assert [(c.name, c.direction) for c in config.canaries] == [
        ("eu-in", "inbound"),
        ("eu-out", "outbound"),
    ]
    assert load_config_text(text, base_dir=example.parent).canaries == ()  # commented out
