"""imap: does the region's IMAP service greet a client? Never logs in.

The conversation (RFC 9051 / 3501), bounded by session.py and lines.py:

    <- * OK ...                  greeting (code "* OK"; "* PREAUTH" also greets; "* BYE" refuses)
    -> a1 CAPABILITY             <- * CAPABILITY ...  a1 OK
    -> a2 STARTTLS               only for tls = "starttls" (after checking it is offered)
       (handshake)  -> a3 CAPABILITY   the session still works over TLS
    -> a9 LOGOUT                 <- * BYE ...  a9 OK   (waited for briefly; changes nothing)

With tls = "implicit" the handshake comes before the greeting. Commands are never pipelined:
bytes sent after STARTTLS in the same packet would be sent in the clear (RFC 3207 4.2 and
RFC 9051 6.2.1 ask servers to drop them).
"""

from __future__ import annotations

from pathlib import Path

from cockpit.service.lines import ProbeStop
from cockpit.service.observation import ServiceObservation
from cockpit.service.session import Session, Target, run_session

GREETINGS = ("OK", "PREAUTH", "BYE")


async def probe_imap(
    target: Target, ip: str, *, timeout: float, ca_file: Path | None
) -> ServiceObservation:
    """One IMAP probe of `target` at `ip`, within `timeout` seconds in all."""
    return await run_session(
        target,
        ip,
        _converse,
        timeout=timeout,
        ca_file=ca_file,
        uses_tls=target.tls_mode != "none",
    )


def greeting_status(line: str) -> str | None:
    """ "OK", "PREAUTH" or "BYE" for an untagged IMAP greeting, else None (not IMAP)."""
    star, _, rest = line.partition(" ")
    word = rest.split(" ", 1)[0].upper()
    return word if star == "*" and word in GREETINGS else None


def capability_words(lines: list[str]) -> set[str]:
    """Capabilities named by `* CAPABILITY ...` lines or a `[CAPABILITY ...]` response code."""
    words: set[str] = set()
    for line in lines:
        upper = line.upper()
        if upper.startswith("* CAPABILITY "):
            words.update(upper.split()[2:])
        elif "[CAPABILITY " in upper:
            words.update(upper.split("[CAPABILITY ", 1)[1].split("]", 1)[0].split())
    return words


async def _tagged(session: Session, tag: str) -> tuple[bool, list[str]]:
    """The reply to a command with `tag`: whether it ended in `tag OK`, and its lines."""
    prefix = f"{tag} "

    def is_last(line: str) -> bool:
        return line.startswith(prefix) or line.upper().startswith("* BYE")

    lines = await session.lines.reply(is_last)
    last = lines[-1]
    if last.upper().startswith("* BYE"):
        raise ProbeStop("rejected", f"the server said BYE: {last[6:]}")
    return last[len(prefix) :].upper().startswith("OK"), lines


async def _capability(session: Session, tag: str) -> None:
    await session.send(f"{tag} CAPABILITY")
    ok, lines = await _tagged(session, tag)
    session.progress.capabilities = lines
    if not ok:
        raise ProbeStop("protocol", f"CAPABILITY was refused: {lines[-1]}")


async def _converse(session: Session) -> None:
    greeting = await session.lines.line()
    status = greeting_status(greeting)
    if status is None:
        session.progress.reply = [greeting]
        raise ProbeStop("protocol", "the greeting is not IMAP")
    session.greeted(f"* {status}", [greeting])
    if status == "BYE":
        raise ProbeStop("rejected", "the greeting is * BYE")
    await _capability(session, "a1")
    if session.target.tls_mode == "starttls":
        offered = "STARTTLS" in capability_words([greeting, *session.progress.capabilities])
        session.progress.starttls_offered = offered
        if not offered:
            await _logout(session)
            raise ProbeStop("no-starttls", "STARTTLS is not offered")
        await session.send("a2 STARTTLS")
        ok, lines = await _tagged(session, "a2")
        if not ok:
            raise ProbeStop("starttls-refused", f"STARTTLS was refused: {lines[-1]}")
        await session.start_tls()
        await _capability(session, "a3")
    await _logout(session)


async def _logout(session: Session) -> None:
    await session.goodbye("a9 LOGOUT", lambda line: line.startswith("a9 "))
