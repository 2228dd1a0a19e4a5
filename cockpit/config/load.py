"""Reading a config: file -> bytes -> text -> TOML -> checked `Config`, or one `ConfigError`.

Every way this can go wrong ends as a `ConfigError` listing every problem found; nothing else is
raised, whatever the file holds. The stages:

    read_bytes     missing, a directory, unreadable, too large     -> one file-level problem
    decode         not UTF-8 (byte offset, line)                   -> one file-level problem
    tomllib        not TOML (line, column)                         -> one file-level problem
    schema         types, values, unknown keys (per key path)      -> all problems
    crosscheck     duplicates, values shared between regions       -> all problems
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from cockpit.compat import tomllib
from cockpit.config.crosscheck import check_across
from cockpit.config.lines import locate_keys
from cockpit.config.model import Config
from cockpit.config.readers import INVALID, Context, Invalid, read_fields
from cockpit.config.report import Problems, safe_text
from cockpit.config.schema import TOP_KEYS, build_config
from cockpit.errors import ConfigError, ConfigProblem

MAX_CONFIG_BYTES = 1024 * 1024
"""A config is a few kilobytes; anything this large is the wrong file (or /dev/zero)."""

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def _file_label(path: str | os.PathLike[str]) -> str:
    try:
        shown = os.fsdecode(path)
    except (TypeError, ValueError):
        shown = repr(path)
    return safe_text(shown, limit=200)


def _fail(
    file: str, message: str, *, line: int | None = None, column: int | None = None
) -> NoReturn:
    raise ConfigError([ConfigProblem(file, "", message, line=line, column=column)])


def _read_bytes(path: Path, file: str, searched: Sequence[str] | None) -> bytes:
    try:
        if path.is_dir():
            _fail(file, "is a directory, not a config file")
        with path.open("rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        message = "config file not found"
        if searched:
            places = "; ".join(safe_text(place, limit=200) for place in searched)
            message += f"; looked in: {places}"
        _fail(file, message)
    except IsADirectoryError:
        _fail(file, "is a directory, not a config file")
    except PermissionError:
        _fail(file, "permission denied: cannot read the config file")
    except NotADirectoryError:
        _fail(file, "config file not found (a part of the path is not a directory)")
    except OSError as error:
        reason = safe_text(error.strerror or type(error).__name__)
        _fail(file, f"cannot read the config file: {reason}")
    except ValueError as error:  # e.g. an embedded NUL in the path
        _fail(file, f"cannot use this path: {safe_text(str(error))}")
    if len(data) > MAX_CONFIG_BYTES:
        limit = MAX_CONFIG_BYTES // 1024
        _fail(file, f"larger than {limit} KiB: this is not a cockpit config file")
    return data


def _decode(data: bytes, file: str) -> str:
    # A byte-order mark is harmless (some Windows editors add one), so it is dropped.
    skipped = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skipped:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start + skipped
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        _fail(
            file,
            f"not UTF-8: byte 0x{data[offset]:02x} at offset {offset} (line {line}) cannot be "
            "decoded; save the file as UTF-8",
            line=line,
            column=column,
        )


def _parse_toml(text: str, file: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        line: int | None = None
        column: int | None = None
        position = _TOML_POSITION.search(message)
        if position:
            line, column = int(position.group(1)), int(position.group(2))
            message = message[: position.start()]
        elif _TOML_AT_END.search(message):
            line = text.count("\n") + 1
            message = _TOML_AT_END.sub("", message) + " at the end of the file"
        _fail(file, f"not valid TOML: {safe_text(message, limit=200)}", line=line, column=column)
    except RecursionError:
        _fail(file, "not usable TOML: arrays or tables nested too deeply")
    except (ValueError, MemoryError) as error:  # e.g. an integer too long to convert
        _fail(file, f"not usable TOML: {safe_text(str(error), limit=200)}")


def _check(text: str, file: str, source: Path | None, base_dir: Path | None) -> Config:
    text = text.removeprefix("\ufeff")
    document = _parse_toml(text, file)
    problems = Problems(file=file, lines=locate_keys(text))
    ctx = Context(problems=problems, base_dir=base_dir)
    fields = read_fields(document, (), TOP_KEYS, ctx)
    check_across(document, ctx)
    config = INVALID if isinstance(fields, Invalid) else build_config(fields, source)
    if problems.found or not isinstance(config, Config):
        if not problems.found:  # a reader said INVALID without saying why: still refuse
            problems.add_at_line("the config is not valid")
        # In file order, like a compiler; problems with no known line come last.
        in_order = sorted(problems.found, key=lambda p: (p.line is None, p.line or 0))
        raise ConfigError(in_order)
    return config


def _guarded(file: str, run: Callable[[], Config]) -> Config:
    """Run a load; a bug in the checks still ends as a ConfigError, never a traceback."""
    try:
        result = run()
    except ConfigError:
        raise
    except Exception as error:  # noqa: BLE001 - the promise is "only ConfigError"
        reason = safe_text(f"{type(error).__name__}: {error}", limit=200)
        raise ConfigError(
            [ConfigProblem(file, "", f"internal error while checking the config ({reason})")]
        ) from error
    return result


def load_config_text(
    text: str, *, source: str = "<string>", base_dir: Path | None = None
) -> Config:
    """Check a config given as text. `source` names it in messages; relative paths in it are
    taken relative to `base_dir` (left relative when None). Raises only `ConfigError`."""
    file = safe_text(str(source), limit=200)

    def run() -> Config:
        if not isinstance(text, str):
            _fail(file, f"expected the config as text, found {type(text).__name__}")
        return _check(text, file, None, base_dir)

    return _guarded(file, run)


def load_config(path: str | os.PathLike[str], *, searched: Sequence[str] | None = None) -> Config:
    """Read and check the config file at `path`. Raises only `ConfigError`, listing every problem.

    `searched` (from `config_search_places`) is added to a "not found" message when the path came
    from the search rather than from the user.
    """
    file = _file_label(path)

    def run() -> Config:
        try:
            given = Path(path)
        except TypeError:
            _fail(file, "not a usable path")
        try:
            absolute = given.absolute()
        except OSError:
            absolute = given
        data = _read_bytes(given, file, searched)
        text = _decode(data, file)
        return _check(text, file, absolute, absolute.parent)

    return _guarded(file, run)
