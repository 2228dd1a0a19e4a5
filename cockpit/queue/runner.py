"""Run a queue command: no shell, a timeout that kills the whole process group, capped output.

`run_command(argv, timeout=..., max_output=...)` never raises for anything the command does:
a missing program, a timeout, too much output and a non-zero exit all come back as a
`CommandResult` whose `error` is one line a commander understands:

    no such program: postqueue
    cannot run /usr/local/bin/depth: Permission denied
    timed out after 10 s (killed)
    output larger than 64 MiB (killed)
    exit 255: ssh: connect to host mx1 port 22: Connection refused
    killed by SIGTERM: <last stderr line>

How a command runs: `asyncio.create_subprocess_exec` (never a shell), stdin from /dev/null
(or the bytes given as `stdin`, then closed),
`start_new_session=True` so the command leads its own process group. At the deadline, when the
output passes `max_output`, or when the caller is cancelled, the whole group gets SIGKILL
(`os.killpg`) and is waited for: a wrapper script that started children leaves none behind.
Every running group is known to `cockpit.children`, which ends them all when cockpit exits or
is killed by SIGHUP/SIGTERM.
Only the last 2 KiB of stderr are kept, for the error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cockpit import children, compat
from cockpit.safe_text import clean

__all__ = ["STDERR_TAIL_BYTES", "CommandResult", "format_bytes", "run_command"]

STDERR_TAIL_BYTES = 2048
"""How much of the end of stderr is kept."""
_CHUNK = 64 * 1024
_EXIT_POLL_S = 0.02
_DRAIN_S = 0.5
"""How long the pipes may stay open after the command exited or was killed: a child it left
running (or one that left the group with setsid) could hold them open forever."""


def format_bytes(count: int) -> str:
    """`67108864` -> "64 MiB", `1048576` -> "1 MiB", `2048` -> "2 KiB", `100` -> "100 bytes"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            value = count / size
            return f"{value:.0f} {unit}" if value.is_integer() else f"{value:.1f} {unit}"
    return f"{count} bytes"


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one run of a command gave."""

    argv: tuple[str, ...]
    returncode: int | None
    """The exit status; negative: killed by that signal; None: it never ran (see `error`)."""
    stdout: bytes
    """Standard output, at most `max_output` bytes (cut there when `too_large`)."""
    stderr_tail: str
    """The last 2 KiB of standard error, decoded and made safe (`safe_text.clean`, multiline)."""
    timed_out: bool
    too_large: bool
    elapsed_s: float
    error: str | None = None
    """One line saying why the output cannot be used; None when the command exited 0 in time
    with output under the cap."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def last_stderr_line(self) -> str:
        """The last non-blank line of stderr, stripped; "" when there is none."""
        for line in reversed(self.stderr_tail.splitlines()):
            if line.strip():
                return line.strip()
        return ""


def _program_name(argv: Sequence[str]) -> str:
    return clean(argv[0] if argv else "")[:200]


def _describe_failure(
    argv: Sequence[str],
    returncode: int | None,
    stderr_line: str,
    *,
    timed_out: bool,
    too_large: bool,
    timeout: float,
    max_output: int,
) -> str | None:
    if timed_out:
        return f"timed out after {_format_seconds(timeout)} (killed)"
    if too_large:
        return f"output larger than {format_bytes(max_output)} (killed)"
    if returncode is None or returncode == 0:
        return None
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        head = f"killed by {name}"
    else:
        head = f"exit {returncode}"
    return f"{head}: {stderr_line}" if stderr_line else head


async def _read_capped(stream: asyncio.StreamReader, limit: int, out: bytearray) -> bool:
    """Read `stream` into `out` until EOF; stop and return True once it passes `limit`."""
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            return False
        room = limit - len(out)
        if len(chunk) > room:
            out += chunk[: max(room, 0)]
            return True
        out += chunk


async def _feed(stream: asyncio.StreamWriter, data: bytes) -> None:
    """Write `data` to the command's stdin and close it; a command that exits (or closes its
    stdin) before reading it all is no error here: its exit status says what happened."""
    try:
        stream.write(data)
        await stream.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
            stream.close()


async def _discard(stream: asyncio.StreamReader) -> None:
    while await stream.read(_CHUNK):
        pass


async def _read_tail(stream: asyncio.StreamReader, out: bytearray) -> None:
    """Read `stream` until EOF, keeping only its last `STDERR_TAIL_BYTES` bytes in `out`."""
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            return
        out += chunk
        if len(out) > STDERR_TAIL_BYTES:
            del out[: len(out) - STDERR_TAIL_BYTES]


async def _exit_of(process: asyncio.subprocess.Process) -> int:
    """The exit status, as soon as the process exits. (`Process.wait()` also waits until every
    pipe is closed, which a child left running in the background can put off forever.)"""
    while process.returncode is None:
        await asyncio.sleep(_EXIT_POLL_S)
    return process.returncode


def _kill_group(process: asyncio.subprocess.Process) -> None:
    # The command leads its own session, so its process group id is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    max_output: int = 1 << 20,
    stdin: bytes | None = None,
) -> CommandResult:
    """Run `argv` (no shell) for at most `timeout` seconds, keeping at most `max_output` bytes
    of stdout. `stdin`: bytes written to its standard input, which is then closed (default:
    /dev/null). Never raises, except `asyncio.CancelledError` (after killing the group)."""
    args = tuple(argv)
    started = time.monotonic()
    if not args or not args[0]:
        return CommandResult(args, None, b"", "", False, False, 0.0, "empty command")
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:
        if isinstance(error, FileNotFoundError):
            failure = f"no such program: {_program_name(args)}"
        else:
            failure = f"cannot run {_program_name(args)}: {clean(error.strerror or error)}"
        return CommandResult(args, None, b"", "", False, False, time.monotonic() - started, failure)

    children.started(process.pid)  # its own session: the group id is its pid
    try:
        return await _run_started(process, args, started, timeout, max_output, stdin)
    finally:
        children.ended(process.pid)


async def _run_started(
    process: asyncio.subprocess.Process,
    args: tuple[str, ...],
    started: float,
    timeout: float,
    max_output: int,
    stdin: bytes | None = None,
) -> CommandResult:
    assert process.stdout is not None and process.stderr is not None
    stdout = bytearray()
    stderr = bytearray()
    out_task = asyncio.create_task(_read_capped(process.stdout, max_output, stdout))
    err_task = asyncio.create_task(_read_tail(process.stderr, stderr))
    in_task = None
    if stdin is not None and process.stdin is not None:
        in_task = asyncio.create_task(_feed(process.stdin, stdin))
    wait_task = asyncio.create_task(_exit_of(process))
    timed_out = too_large = lingering = False
    try:
        try:
            async with compat.timeout(timeout):
                await asyncio.wait({out_task, wait_task}, return_when=asyncio.FIRST_COMPLETED)
                too_large = out_task.done() and out_task.result()
                if not too_large:
                    await wait_task
                    # It exited; its pipes close when every process holding them is gone. A
                    # child left running in the background must not hold the read open.
                    _, pending = await asyncio.wait({out_task, err_task}, timeout=_DRAIN_S)
                    lingering = bool(pending)
        except TimeoutError:
            timed_out = True
        if timed_out or too_large or lingering:
            _kill_group(process)
            await wait_task
            readers = {out_task, err_task}
            if too_large:  # read on to EOF, so the pipe is closed rather than left paused
                readers.add(asyncio.create_task(_discard(process.stdout)))
            # EOF arrives as soon as the killed group is gone; bounded in case it is not.
            _, pending = await asyncio.wait(readers, timeout=_DRAIN_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if out_task.done() and not out_task.cancelled() and out_task.result():
            too_large = True
        # Lets asyncio finish the transport now that the pipes are closed (bounded: a pipe
        # held by a process outside the group stays open).
        with contextlib.suppress(TimeoutError):
            await compat.wait_for(process.wait(), _DRAIN_S)
    except BaseException:
        # Cancelled from outside (the source's overall timeout): leave nothing running.
        _kill_group(process)
        if in_task is not None:
            in_task.cancel()
        out_task.cancel()
        err_task.cancel()
        wait_task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.shield(_exit_of(process))
        raise
    if in_task is not None:
        if not in_task.done():  # the command ended without reading all of it
            in_task.cancel()
        await asyncio.gather(in_task, return_exceptions=True)
    elapsed = time.monotonic() - started
    stderr_tail = clean(bytes(stderr).decode("utf-8", errors="replace"), multiline=True)
    output = bytes(stdout)
    del stdout  # up to 64 MiB: not kept twice for longer than the copy
    result = CommandResult(
        args, process.returncode, output, stderr_tail, timed_out, too_large, elapsed
    )
    failure = _describe_failure(
        args,
        process.returncode,
        result.last_stderr_line[:300],
        timed_out=timed_out,
        too_large=too_large,
        timeout=timeout,
        max_output=max_output,
    )
    if failure is None:
        return result
    return replace(result, error=failure)
