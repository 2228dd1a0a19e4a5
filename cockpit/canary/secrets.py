"""Canary passwords: read at run time from an environment variable or a file, and kept hidden.

    secret = read_secret(canary.imap_password, "imap password")   # Secret, or SecretUnavailable
    secret.reveal()      # the text, only where a login needs it
    repr(secret), str(secret), f"{secret}"                      # "Secret(hidden)"

Rules (issue 14): a password never comes from the config, and never appears in an error, a
repr, finding data, the log or any output. `Secret` hides its value from repr, str and format,
refuses pickling and compares by identity only. `SecretUnavailable.reason` says which source
failed and why (the variable's name, the file's path and mode), never any part of the value.

A password file must be a regular file (a symlink to one is followed: secret mounts use them)
that neither group nor others may read or write (mode & 0o077 == 0); it is read once per run,
at most MAX_SECRET_BYTES, and one trailing line break is dropped. An unset or empty variable,
a missing, empty or too open file: SecretUnavailable, which a run reports as `unknown`.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Mapping

from cockpit.config.model import SecretSource
from cockpit.safe_text import clean

__all__ = ["MAX_SECRET_BYTES", "Secret", "SecretUnavailable", "read_secret"]

MAX_SECRET_BYTES = 4096


class Secret:
    """A password in memory: shown nowhere (see the module docstring)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The password itself: pass it straight to a login, never into text."""
        return self._value

    def scrub(self, text: str, *, user: str = "") -> str:
        """`text` with the password, and the base64 forms a login sends (AUTH PLAIN, LOGIN),
        replaced by "***": a server that echoes what it was sent must not leak it."""
        if not self._value:
            return text
        forms = {
            self._value,
            base64.b64encode(self._value.encode("utf-8", "replace")).decode("ascii"),
            base64.b64encode(f"\0{user}\0{self._value}".encode("utf-8", "replace")).decode("ascii"),
        }
        for form in sorted(forms, key=len, reverse=True):
            if len(form) >= 3:
                text = text.replace(form, "***")
        return text

    def __repr__(self) -> str:
        return "Secret(hidden)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> object:
        raise TypeError("a Secret is not pickled")

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__


class SecretUnavailable(Exception):
    """A password that cannot be had; `reason` names the source, never the value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_secret(source: SecretSource, what: str, env: Mapping[str, str] | None = None) -> Secret:
    """The password `source` points at; `what` names it in reasons ("imap password").

    Raises SecretUnavailable (see the module docstring)."""
    if source.env is not None:
        value = (os.environ if env is None else env).get(source.env)
        if value is None:
            raise SecretUnavailable(f"{what} not set: env {source.env} is not set")
        if value == "":
            raise SecretUnavailable(f"{what} not set: env {source.env} is empty")
        return Secret(value)
    if source.file is None:
        raise SecretUnavailable(f"{what}: no environment variable or file configured")
    return Secret(_read_file(str(source.file), what))


def _read_file(path: str, what: str) -> str:
    shown = clean(path)[:200]
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        handle = os.open(path, flags)
    except FileNotFoundError:
        raise SecretUnavailable(f"{what} file {shown} does not exist") from None
    except PermissionError:
        raise SecretUnavailable(f"{what} file {shown}: permission denied") from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SecretUnavailable(f"{what} file {shown} cannot be opened: {reason}") from None
    try:
        facts = os.fstat(handle)
        if not stat.S_ISREG(facts.st_mode):
            raise SecretUnavailable(f"{what} file {shown} is not a regular file")
        mode = stat.S_IMODE(facts.st_mode)
        if mode & 0o077:
            raise SecretUnavailable(
                f"{what} file {shown} is open to group or others (mode {mode:04o}): refused;"
                f" allow its owner only (chmod 600)"
            )
        data = os.read(handle, MAX_SECRET_BYTES + 1)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SecretUnavailable(f"{what} file {shown} cannot be read: {reason}") from None
    finally:
        os.close(handle)
    if len(data) > MAX_SECRET_BYTES:
        raise SecretUnavailable(
            f"{what} file {shown} is larger than {MAX_SECRET_BYTES} bytes: not a password file"
        )
    text = data.decode("utf-8", errors="replace")
    text = text.removesuffix("\n").removesuffix("\r")
    if text == "":
        raise SecretUnavailable(f"{what} file {shown} is empty")
    return text
