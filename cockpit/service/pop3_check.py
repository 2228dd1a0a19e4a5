"""pop3: does the region's POP3 service greet a client? Never logs in.

The conversation (RFC 1939, 2449 CAPA, 2595 STLS), bounded by session.py and lines.py:

    <- +OK ...               greeting (code "+OK"; "-ERR" refuses)
    -> CAPA                  <- +OK, capability lines, "."   (or -ERR: an old server, no list)
    -> STLS                  only for tls = "starttls": when CAPA lists STLS, or CAPA gave no list
       (handshake) -> CAPA   the session still works over TLS
    -> QUIT                  <- +OK   (waited for briefly; changes nothing)

With tls = "implicit" the handshake comes before the greeting.
"""

from __future__ import annotations

from pathlib import Path

from cockpit.service.lines import ProbeStop
from cockpit.service.observation import ServiceObservation
from cockpit.service.session import Session, Target, run_session


async def probe_pop3(
    target: Target, ip: str, *, timeout: float, ca_file: Path | None
) -> ServiceObservation:
    """One POP3 probe of `target` at `ip`, within `timeout` seconds in all."""
    return await run_session(
        target,
        ip,
        _converse,
        timeout=timeout,
        ca_file=ca_file,
        uses_tls=target.tls_mode != "none",
    )


def status_word(line: str) -> str | None:
    """ "+OK" or "-ERR" at the start of a POP3 status line, else None."""
    word = line.split(" ", 1)[0].upper()
    return word if word in ("+OK", "-ERR") else None


async def _capa(session: Session) -> list[str] | None:
    """The CAPA list (without its status and end lines), or None when CAPA is not supported."""
    await session.send("CAPA")
    first = await session.lines.line()
    status = status_word(first)
    if status is None:
        raise ProbeStop("protocol", "the reply to CAPA is not POP3")
    if status == "-ERR":
        session.progress.capabilities = [first]
        return None
    lines = await session.lines.reply(lambda line: line == ".")
    session.progress.capabilities = [first, *lines]
    # A line starting with "." is dot-stuffed (RFC 1939 section 3).
    return [line[1:] if line.startswith(".") else line for line in lines[:-1]]


async def _converse(session: Session) -> None:
    greeting = await session.lines.line()
    status = status_word(greeting)
    if status is None:
        session.progress.reply = [greeting]
        raise ProbeStop("protocol", "the greeting is not POP3")
    session.greeted(status, [greeting])
    if status == "-ERR":
        raise ProbeStop("rejected", "the greeting is -ERR")
    listed = await _capa(session)
    if session.target.tls_mode == "starttls":
        offered = None if listed is None else any(c.upper().split()[:1] == ["STLS"] for c in listed)
        session.progress.starttls_offered = offered
        if offered is False:
            await _quit(session)
            raise ProbeStop("no-starttls", "STLS is not offered")
        await session.send("STLS")
        answer = await session.lines.line()
        if status_word(answer) != "+OK":
            session.progress.starttls_offered = listed is not None
            kind = "starttls-refused" if listed is not None else "no-starttls"
            raise ProbeStop(kind, f"STLS was refused: {answer}")
        session.progress.starttls_offered = True
        await session.start_tls()
        await _capa(session)
    await _quit(session)


async def _quit(session: Session) -> None:
    await session.goodbye("QUIT", lambda line: status_word(line) is not None)
