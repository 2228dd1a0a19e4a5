"""`cockpit serve INCIDENT`: the cockpit in a browser, read-only by default.

Everything a user can get wrong (the incident, the config, the address, the port) is checked
here, before aiohttp or textual-serve are imported; the server itself is cockpit/serve/.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.errors import UsageError

if TYPE_CHECKING:
    import socket

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

_DESCRIPTION = """\
Show the cockpit for INCIDENT in a browser (for the war-room screen), through textual-serve.
Each browser tab runs its own cockpit, read-only unless --allow-write: every pane live,
nothing written. It prints one URL carrying a random token; without the token, from another
Host name or (for the websocket) from another Origin, the server answers 403."""

_EPILOG = """\
examples:
  cockpit serve incidents/2026-11-27-eu.jsonl --config cockpit.toml
  cockpit serve incidents/2026-11-27-eu.jsonl --port 0          # any free port

from another machine, through SSH (the server stays on 127.0.0.1 of the ops host):
  ssh -N -L 8000:127.0.0.1:8000 ops-host    # on your machine, then open the printed URL there
"""


def add_serve_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `serve` to the `cockpit` command's subparsers."""
    serve = commands.add_parser(
        "serve",
        help="show the cockpit in a browser (read-only, 127.0.0.1, token in the printed URL)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "incident", metavar="INCIDENT", help="path of the incident log to show (must exist)"
    )
    serve.add_argument(
        "--config",
        dest="serve_config",
        metavar="FILE",
        help="config file (else $COCKPIT_CONFIG, ./cockpit.toml, then the user config directory)",
    )
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        metavar="ADDR",
        help=f"IP address to listen on (default: {DEFAULT_HOST}); a non-loopback address needs"
        " --allow-remote",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port (default: {DEFAULT_PORT}; 0 picks a free one)",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (the token is still required; prefer an SSH tunnel)",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="http(s)://HOST[:PORT] browsers use when behind a reverse proxy or on another"
        " machine; its Host and Origin are then accepted too",
    )
    serve.add_argument(
        "--allow-write",
        action="store_true",
        help="let the browser write to the incident log (default: read-only viewer)",
    )
    serve.add_argument(
        "--author",
        dest="serve_author",
        metavar="NAME",
        help="who writes from the browser, with --allow-write (default: web:LOGIN)",
    )
    serve.add_argument("--theme", dest="serve_theme", metavar="NAME", help="colour theme")
    serve.add_argument(
        "--ascii", dest="serve_ascii", action="store_true", help="draw with ASCII only"
    )


def run_serve(args: argparse.Namespace) -> int:
    from cockpit.cli import report_warning, write_stdout
    from cockpit.commands.common import load_optional_config, resolve_author
    from cockpit.config import find_config_path
    from cockpit.safe_text import clean
    from cockpit.serve.policy import Access, check_bind, new_token, parse_public_url

    incident = _existing_incident(args.incident)
    if args.serve_author is not None and not args.allow_write:
        raise UsageError("--author names who writes from the browser: it needs --allow-write")
    config, config_warning = load_optional_config(args.serve_config)
    if config_warning:
        report_warning(config_warning)
    config_path = find_config_path(args.serve_config) if config is not None else None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: give 0 to 65535 (0 picks a free port)")
    bind_host = check_bind(args.host, args.allow_remote)
    public = parse_public_url(args.public_url) if args.public_url else None
    author = (args.serve_author or "").strip() or f"web:{resolve_author(None, None)}"

    argv = child_argv(
        incident,
        config=None if config_path is None else Path(config_path).resolve(),
        read_only=not args.allow_write,
        author=author,
        theme=args.serve_theme,
        ascii_only=args.serve_ascii,
    )
    sock = bind_socket(bind_host, args.port)
    try:
        access = Access(bind_host, int(sock.getsockname()[1]), new_token(), public)
        if public is None and _is_wildcard(bind_host):
            report_warning(
                f"listening on {bind_host}: browsers on other machines must use the address"
                " given with --public-url (other Host names get 403)"
            )
        mode = "writes as " + author if args.allow_write else "read-only"

        def announce(url: str) -> None:
            write_stdout(f"Open {url} in a browser ({mode}); Ctrl+C stops the server\n")

        from cockpit.serve.server import serve_forever

        title = f"cockpit: {clean(incident.name)}"
        serve_forever(argv, access, sock, title=title, announce=announce)
    finally:
        sock.close()
    return 0


def child_argv(
    incident: Path,
    *,
    config: Path | None,
    read_only: bool,
    author: str,
    theme: str | None,
    ascii_only: bool,
) -> list[str]:
    """The command each browser tab runs: a list, never a shell string. Values go in
    `--option=value` form so a value that starts with '-' cannot be read as an option."""
    argv = [sys.executable, "-m", "cockpit", f"--incident={incident}"]
    argv.append("--read-only" if read_only else f"--author={author}")
    if config is not None:
        argv.append(f"--config={config}")
    if theme:
        argv.append(f"--theme={theme}")
    if ascii_only:
        argv.append("--ascii")
    return argv


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: the OS picks); UsageError if it cannot."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is in use (pick another with --port, or --port 0)"
        elif exc.errno == errno.EACCES:
            reason = "permission denied (ports below 1024 need privileges)"
        elif exc.errno == errno.EADDRNOTAVAIL:
            reason = "this machine has no such address"
        else:
            reason = exc.strerror or str(exc)
        raise UsageError(f"cannot listen on {shown}: {reason}") from None
    return sock


def _existing_incident(path_text: str) -> Path:
    path = Path(path_text)
    if path.is_dir():
        raise UsageError(f"{path}: that is a directory; name an incident log file")
    if not path.is_file():
        raise UsageError(
            f"{path} does not exist; `cockpit serve` shows an incident, it creates none"
        )
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror})") from None
    return path.resolve()


def _is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m cockpit.commands.serve_cmd ARGS`: `cockpit serve ARGS` without cli.py."""
    from cockpit.cli import EXIT_ERROR, report_error
    from cockpit.errors import CockpitError

    parser = argparse.ArgumentParser(prog="cockpit")
    add_serve_parser(parser.add_subparsers(dest="command", metavar="COMMAND"))
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run_serve(args)
    except CockpitError as exc:
        report_error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
