"""How long a lag or delay is, in words (pure, no imports: the export and the log reader use it
without loading the replication sources and their HTTP client)."""

from __future__ import annotations

__all__ = ["format_lag"]


def format_lag(seconds: float) -> str:
    """ "0.4 s", "20 s", "3 min 20 s", "2 h 5 min", "3 d 4 h": exact enough to compare
    with a threshold, short enough for a region line."""
    if seconds < 9.95 and not float(seconds).is_integer():
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    minutes = round(seconds / 60)
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
