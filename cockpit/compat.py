"""What Python 3.11 added that the cockpit uses, with the fallback for Python 3.10.

Jump hosts often run Ubuntu 22.04 LTS, whose Python is 3.10. The cockpit supports 3.10 to 3.13;
code that needs one of these imports it from here, never from where 3.11 put it:

    UTC              datetime.UTC (3.11) is datetime.timezone.utc, the very same object
    StrEnum          enum.StrEnum (3.11); the fallback formats and compares as its value
    timeout          asyncio.timeout (3.11); async-timeout on 3.10 (the same API)
    tomllib          tomllib (3.11); tomli on 3.10 (the library tomllib was made from)
    fromisoformat    datetime.fromisoformat as 3.11 reads it ("Z", any fraction digits)
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING

__all__ = ["UTC", "StrEnum", "fromisoformat", "timeout", "tomllib"]

UTC = timezone.utc

if sys.version_info >= (3, 11) or TYPE_CHECKING:
    import tomllib
    from asyncio import timeout
    from enum import StrEnum

    fromisoformat = datetime.fromisoformat
else:  # pragma: no cover - exercised by the Python 3.10 smoke run
    import tomli as tomllib
    from async_timeout import timeout

    class StrEnum(str, Enum):
        """enum.StrEnum: members are strings, and str() and format() give the value."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(str(self.value), spec)

        @staticmethod
        def _generate_next_value_(name: str, start: int, count: int, last: list) -> str:
            return name.lower()

    _FRACTION = re.compile(r"(\.\d+)(?=$|[+-]\d\d:?\d\d$)")

    def fromisoformat(text: str) -> datetime:
        """datetime.fromisoformat, also for what 3.10 refuses and 3.11 reads: a "Z" offset
        and a fraction of any number of digits (cut or padded to microseconds)."""
        if not isinstance(text, str):
            return datetime.fromisoformat(text)
        candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        match = _FRACTION.search(candidate)
        if match is not None:
            digits = match.group(1)[1:]
            fixed = "." + (digits + "000000")[:6]
            candidate = candidate[: match.start()] + fixed + candidate[match.end() :]
        return datetime.fromisoformat(candidate)
