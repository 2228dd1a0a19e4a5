"""The one exception tree of cockpit.

    CockpitError                 anything cockpit reports to a user as a clear, one-line error
     +-- UsageError              a command line that cannot be acted on (bad flags, bad time)
     |    +-- OutputFileError    a file to write cannot be written as asked (a directory, a
     |                           socket, a link to a file, no such directory, a full disk)
     +-- ConfigError             the config file is missing, unreadable, not TOML, or breaks
     |                           the schema; carries every ConfigProblem, not only the first
     +-- IncidentLogError        the incident log cannot be opened, locked, written or read
          +-- LogWriteError      an append failed; nothing was acknowledged

Each exception carries structured fields so callers never parse messages.
The CLI turns any CockpitError into "cockpit: error: ..." and an exit status; no traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class CockpitError(Exception):
    """Base of every error cockpit reports to a user."""


class UsageError(CockpitError):
    """A command line that cannot be acted on."""


class OutputFileError(UsageError):
    """A file cockpit was asked to write cannot be written (cockpit.output_file): what is
    there is not something cockpit may replace, or the write itself failed."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        """The file as the user named it (or as cockpit chose it)."""
        self.problem = problem
        """What is wrong and what was expected."""
        super().__init__(f"cannot write {path}: {problem}")


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file."""

    file: str
    """The config file's path as the user gave it (or as it was found); empty when the
    problem is that no file was found at all."""
    key_path: str
    """Dotted key path such as `region[1].sending_ips[0]`; empty for file-level problems."""
    message: str
    """What was expected and what was found."""
    line: int | None = None
    """1-based line number, where TOML reports one."""
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if not where:  # no file to name ("no config file found"): the message says it all
            return f"{self.key_path}: {self.message}" if self.key_path else self.message
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.key_path:
            return f"{where}: {self.key_path}: {self.message}"
        return f"{where}: {self.message}"


class ConfigError(CockpitError):
    """The config could not be loaded. `problems` lists everything found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class IncidentLogError(CockpitError):
    """The incident log cannot be used."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


class LogWriteError(IncidentLogError):
    """An append failed; the entry was not acknowledged."""
