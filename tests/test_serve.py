"""`cockpit serve`: the cockpit in a browser, behind a token, a Host check and an Origin check.

Pure checks of the access policy first; then a real server process on 127.0.0.1 (port 0),
probed with httpx and aiohttp's websocket client; then Debian's headless Chromium, driven over
the DevTools protocol, reading the text off the terminal (textual.js draws on a canvas, so the
text is read from xterm's buffer). Everything stays on loopback; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cockpit import compat
from cockpit.errors import UsageError
from cockpit.serve.policy import (
    Access,
    check_bind,
    parse_public_url,
    token_matches,
)
from tests.lab import missing_in_lab, pids_running

TITLE = "EU storage outage"
# Shell metacharacters in the incident's name: a shell would run `touch`; an argv never does.
INCIDENT_NAME = "eu outage; touch PWNED $(touch PWNED2) `touch PWNED3`.jsonl"
URL_LINE = re.compile(r"^Open (http://\S+/\?token=([A-Za-z0-9_-]+)) in a browser")
START_WITHIN = 20.0
PANES = ("Queue", "DNS", "Auth", "Checklist", "Timeline")


# The policy, pure


def test_loopback_binds_need_no_flag() -> None:
    assert check_bind("127.0.0.1", allow_remote=False) == "127.0.0.1"
    assert check_bind("127.0.0.5", allow_remote=False) == "127.0.0.5"
    assert check_bind("localhost", allow_remote=False) == "127.0.0.1"
    assert check_bind("::1", allow_remote=False) == "::1"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "10.1.2.3"])
def test_other_binds_need_allow_remote(host: str) -> None:
    with pytest.raises(UsageError, match="--allow-remote"):
        check_bind(host, allow_remote=False)
    assert check_bind(host, allow_remote=True) == host


def test_a_name_is_not_an_address_to_bind() -> None:
    with pytest.raises(UsageError, match="IP address"):
        check_bind("cockpit.example", allow_remote=True)


def test_token_comparison() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abd", "abc")
    assert not token_matches("", "abc")
    assert not token_matches(None, "abc")
    assert not token_matches("ab\udcff", "abc")


def test_hosts_and_origins_are_the_served_ones() -> None:
    access = Access("127.0.0.1", 8123, "t")
    assert access.hosts == {"127.0.0.1:8123", "localhost:8123"}
    assert access.origins == {"http://127.0.0.1:8123", "http://localhost:8123"}
    assert access.host_allowed("LOCALHOST:8123")
    for host in (None, "", "127.0.0.1", "127.0.0.1:8124", "evil.example:8123", "evil.example"):
        assert not access.host_allowed(host)
    for origin in (None, "", "null", "http://evil.example", "https://127.0.0.1:8123"):
        assert not access.origin_allowed(origin)
    assert access.open_url == "http://127.0.0.1:8123/?token=t"
    v6 = Access("::1", 8123, "t")
    assert v6.hosts == {"[::1]:8123", "localhost:8123"}
    assert v6.open_url == "http://[::1]:8123/?token=t"


def test_public_url_adds_its_host_and_origin() -> None:
    access = Access("0.0.0.0", 8123, "t", parse_public_url("https://Cockpit.Example/"))
    assert "cockpit.example" in access.hosts and "cockpit.example:443" in access.hosts
    assert "https://cockpit.example" in access.origins
    assert "127.0.0.1:8123" in access.hosts
    assert access.open_url == "https://cockpit.example/?token=t"
    for bad in ("ftp://x", "cockpit.example", "http://u:p@x", "http://x/sub", "http://x:99999"):
        with pytest.raises(UsageError, match="--public-url"):
            parse_public_url(bad)


def test_child_command_is_a_list_and_read_only_by_default(tmp_path: Path) -> None:
    from cockpit.commands.serve_cmd import child_argv

    incident = tmp_path / "-x; rm -rf ~.jsonl"
    argv = child_argv(
        incident, config=None, read_only=True, author="web:x", theme="-t", ascii_only=True
    )
    assert argv[:3] == [sys.executable, "-m", "cockpit"]
    assert f"--incident={incident}" in argv and "--read-only" in argv
    assert "--theme=-t" in argv and "--ascii" in argv
    assert not any(arg.startswith("--author") for arg in argv)
    writing = child_argv(
        incident,
        config=tmp_path / "c.toml",
        read_only=False,
        author="web:x",
        theme=None,
        ascii_only=False,
    )
    assert "--read-only" not in writing and "--author=web:x" in writing
    assert f"--config={tmp_path / 'c.toml'}" in writing


def test_serve_command_imports_no_server_code() -> None:
    body = (
        "import sys, cockpit.cli, cockpit.commands.serve_cmd, cockpit.serve.policy\n"
        "heavy = [m for m in ('aiohttp', 'textual_serve', 'textual') if m in sys.modules]\n"
        "print('HEAVY:' + ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "HEAVY:", done.stderr


# A real server


def _serve_argv() -> list[str]:
    """`cockpit serve` once cli.py offers it, else the same command through serve_cmd."""
    from cockpit.cli import build_parser

    parser = build_parser()
    subcommands = next(
        (a.choices for a in parser._actions if a.dest == "command"),
        {},  # noqa: SLF001
    )
    if "serve" in subcommands:
        return [sys.executable, "-m", "cockpit", "serve"]
    return [sys.executable, "-m", "cockpit.commands.serve_cmd"]


@dataclass
class Served:
    popen: subprocess.Popen[str]
    cwd: Path
    incident: Path
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    url: str = ""
    token: str = ""

    @property
    def base(self) -> str:
        return self.url.split("/?", 1)[0]

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    @property
    def cookie(self) -> str:
        return f"cockpit_serve_{self.port}={self.token}"

    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)


def _pump(stream: Any, into: list[str]) -> None:
    for line in iter(stream.readline, ""):  # ends when the process closes the pipe
        into.append(line)


def _start(tmp: Path, *args: str, incident: Path | None = None) -> Served:
    if incident is None:
        incident = write_incident(tmp)
    env = {**os.environ}
    env.pop("COCKPIT_DEBUG", None)
    env.pop("COCKPIT_CONFIG", None)
    env["XDG_CONFIG_HOME"] = str(tmp / "xdg")  # no user config leaks in
    popen = subprocess.Popen(
        [*_serve_argv(), str(incident), *args],
        cwd=tmp,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the children go with it
    )
    served = Served(popen, tmp, incident)
    for stream, into in ((popen.stdout, served.stdout), (popen.stderr, served.stderr)):
        threading.Thread(target=_pump, args=(stream, into), daemon=True).start()
    deadline = time.monotonic() + START_WITHIN
    while time.monotonic() < deadline:
        if served.stdout and (match := URL_LINE.match(served.stdout[0])):
            served.url, served.token = match.group(1), match.group(2)
            return served
        if popen.poll() is not None:
            break
        time.sleep(0.05)
    _stop(served)
    raise AssertionError(f"cockpit serve did not print its URL:\n{served.output()}")


def _stop(served: Served) -> None:
    """SIGTERM to the server's process group, then SIGKILL; bounded."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(served.popen.pid, signal.SIGTERM)
    try:
        served.popen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(served.popen.pid, signal.SIGKILL)
        served.popen.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(served.popen.pid, signal.SIGKILL)  # any child left in the group


def write_incident(directory: Path, name: str = INCIDENT_NAME) -> Path:
    from cockpit.incident.log import IncidentLog

    path = directory / name
    IncidentLog(path).append("system", "t", {"event": "title", "title": TITLE}, author="a")
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = _start(tmp_path_factory.mktemp("serve"), "--port", "0")
    try:
        yield server
    finally:
        _stop(server)


def _get(url: str, **kwargs: Any) -> Any:
    import httpx

    assert url.startswith("http://127.0.0.1:"), url
    return httpx.get(url, timeout=10, follow_redirects=False, **kwargs)


def test_prints_one_url_line_with_a_token(served: Served) -> None:
    assert len(served.token) >= 40
    assert served.url.startswith("http://127.0.0.1:")
    assert "read-only" in served.stdout[0] and "Ctrl+C" in served.stdout[0]


def test_without_the_token_nothing_is_served(served: Served) -> None:
    for url in (served.base + "/", served.base + "/?token=", served.base + "/?token=nope"):
        response = _get(url)
        assert response.status_code == 403
        assert "token" in response.text and len(response.text) < 200
        assert "set-cookie" not in response.headers
    assert _get(served.base + "/download/x").status_code == 403
    assert _get(served.base + "/ws").status_code == 403


def test_the_token_answers_the_page_and_sets_a_strict_cookie(served: Served) -> None:
    response = _get(served.url)
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"cockpit_serve_{served.port}={served.token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert 'id="terminal"' in page
    assert f'data-session-websocket-url="ws://127.0.0.1:{served.port}/ws"' in page
    # No external URL at all: only our own /static and the SVG namespace-free markup.
    assert not re.search(r"https?://(?!127\.0\.0\.1:)", page.split("-->", 1)[1]), page
    # The cookie alone is enough afterwards (a reload once the token left the address bar).
    assert _get(served.base + "/", headers={"Cookie": served.cookie}).status_code == 200


def test_a_foreign_host_header_is_refused_even_with_the_token(served: Served) -> None:
    for host in ("evil.example", f"evil.example:{served.port}", "127.0.0.1", "127.0.0.2:80"):
        response = _get(served.url, headers={"Host": host})
        assert response.status_code == 403, host
        assert "Host" in response.text
    assert _get(served.url, headers={"Host": f"localhost:{served.port}"}).status_code == 200


def _raw_status(served: Served, path: str, headers: dict[str, str] | None = None) -> int:
    """The status for `GET path` sent exactly as written (no client-side normalising)."""
    import socket

    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{served.port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = conn.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_no_way_around_the_token_through_static_paths(served: Served) -> None:
    origin = {"Origin": f"http://127.0.0.1:{served.port}"}
    for path in (
        "/static/../ws",
        "/static/%2e%2e/ws",
        "/static/js/../../ws",
        "/static/../download/x",
        "//ws",
        "/nope",
    ):
        assert _raw_status(served, path, origin) == 403, path
    assert _raw_status(served, "/static/js/textual.js") == 200
    assert _raw_status(served, "/static/..%2f..%2fserve%2fserver.py") == 404  # static's own check
    # With the token, a plain GET of /ws is a clear 400, not a dropped connection.
    assert _raw_status(served, "/ws", {**origin, "Cookie": served.cookie}) == 400


def test_static_files_need_no_token(served: Served) -> None:
    assert _get(served.base + "/static/js/textual.js").status_code == 200
    assert _get(served.base + "/static/css/xterm.css").status_code == 200
    assert _get(served.base + "/static/").status_code in (403, 404)  # no directory listing


def _client_session() -> Any:
    import aiohttp

    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))


def _ws_timeout() -> Any:
    import aiohttp

    return aiohttp.ClientWSTimeout(ws_close=10)


async def _ws_status(served: Served, headers: dict[str, str]) -> int:
    import aiohttp

    async with _client_session() as session:
        try:
            async with session.ws_connect(
                served.base.replace("http:", "ws:") + "/ws", headers=headers, timeout=_ws_timeout()
            ):
                return 101
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status


def test_websocket_needs_cookie_and_our_origin(served: Served) -> None:
    ours = f"http://127.0.0.1:{served.port}"
    assert asyncio.run(_ws_status(served, {"Origin": ours})) == 403
    assert asyncio.run(_ws_status(served, {"Cookie": served.cookie})) == 403
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{served.port + 1}"):
        headers = {"Cookie": served.cookie, "Origin": origin}
        assert asyncio.run(_ws_status(served, headers)) == 403, origin
    headers = {"Cookie": "cockpit_serve_1=" + served.token, "Origin": ours}
    assert asyncio.run(_ws_status(served, headers)) == 403  # another port's cookie name


def _children(served: Served) -> list[int]:
    return [pid for pid in pids_running(str(served.incident)) if pid != served.popen.pid]


async def _session(served: Served, *, within: float = 20.0) -> bytes:
    """Open /ws as the page would; the bytes the cockpit sent until its title showed up."""
    import aiohttp

    headers = {"Cookie": served.cookie, "Origin": f"http://127.0.0.1:{served.port}"}
    received = b""
    async with _client_session() as session:
        url = served.base.replace("http:", "ws:") + "/ws?width=120&height=40"
        async with session.ws_connect(url, headers=headers, timeout=_ws_timeout()) as ws:
            await ws.send_str(json.dumps(["resize", {"width": 120, "height": 40}]))
            await ws.send_str("not json")  # dropped, the session lives on
            await ws.send_str(json.dumps(["stdin"]))
            deadline = time.monotonic() + within
            while TITLE.encode() not in received and time.monotonic() < deadline:
                try:
                    message = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
                except TimeoutError:
                    break
                if message.type == aiohttp.WSMsgType.BINARY:
                    received += message.data
                elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
    return received


def test_websocket_with_cookie_and_origin_runs_a_read_only_cockpit(served: Served) -> None:
    received = asyncio.run(_session(served))
    assert TITLE.encode() in received, received[-2000:]
    assert b"READ-ONLY" in received
    # The child goes away with its websocket (bounded stop), and no shell ever ran.
    deadline = time.monotonic() + 10
    while _children(served) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children(served) == []
    assert not list(served.cwd.glob("PWNED*"))


def test_missing_incident_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [*_serve_argv(), str(tmp_path / "nope.jsonl"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "nope.jsonl").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--host", "0.0.0.0"], "--allow-remote"),
        (["--host", "evil.example", "--allow-remote"], "IP address"),
        (["--author", "x"], "--allow-write"),
        (["--port", "70000"], "--port"),
        (["--public-url", "ftp://x"], "--public-url"),
    ],
)
def test_refused_command_lines(tmp_path: Path, extra: list[str], message: str) -> None:
    incident = write_incident(tmp_path, "i.jsonl")
    done = subprocess.run(
        [*_serve_argv(), str(incident), "--port", "0", *extra],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stdout
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "token" not in done.stdout


def test_allow_remote_binds_everywhere_and_still_needs_the_token(tmp_path: Path) -> None:
    server = _start(
        tmp_path,
        "--host",
        "0.0.0.0",
        "--allow-remote",
        "--port",
        "0",
        incident=write_incident(tmp_path, "i.jsonl"),
    )
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert _get(server.base + "/").status_code == 403
        assert _get(server.base + "/?token=" + "x" * 43).status_code == 403
        assert _get(server.url).status_code == 200
        time.sleep(0.2)
        assert "--public-url" in "".join(server.stderr)  # how other machines get in
    finally:
        _stop(server)


def test_allow_write_runs_a_writing_cockpit_under_the_web_author(tmp_path: Path) -> None:
    incident = write_incident(tmp_path, "w.jsonl")
    server = _start(
        tmp_path, "--allow-write", "--author", "web:carol", "--port", "0", incident=incident
    )
    try:
        assert "writes as web:carol" in server.stdout[0]
        received = asyncio.run(_session(server))
        assert TITLE.encode() in received
        assert b"web:carol" in received and b"READ-ONLY" not in received
    finally:
        _stop(server)


# Headless Chromium


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        missing_in_lab("chromium is needed (Debian package chromium, in tests/debian-packages.txt)")
    return found


def _fit_column() -> int:
    """Where textual.js's `fit()` starts, in V8's columns (UTF-16 units)."""
    import textual_serve

    source = (Path(textual_serve.__file__).parent / "static/js/textual.js").read_text()
    marker = "fit(){this.fitAddon.fit(this.element)}"
    at = source.find(marker)
    assert at >= 0, "textual.js changed: update the breakpoint marker"
    return len(source[:at].encode("utf-16-le")) // 2 + len("fit(){")


class DevTools:
    """The few DevTools protocol calls the test needs, over aiohttp's websocket client."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send_json({"id": my_id, "method": method, "params": params})
        for _ in range(10_000):
            message = await self.ws.receive_json(timeout=15)
            if message.get("id") == my_id:
                assert "error" not in message, message
                return message["result"]
            self.events.append(message)
        raise AssertionError(f"no answer to {method}")

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, within: float) -> Any:
        deadline = time.monotonic() + within
        value = None
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        return value


TERMINAL_TEXT = """(() => {
  const term = window.__cockpitTerm;
  if (!term) return "";
  const buffer = term.buffer.active, rows = [];
  for (let i = 0; i < buffer.length; i++) rows.push(buffer.getLine(i).translateToString(true));
  return rows.join("\\n");
})()"""


async def _drive_chromium(served: Served, profile: Path, popen: subprocess.Popen[bytes]) -> dict:

    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (
        port_file.exists() and port_file.read_text().count("\n") >= 1
    ):
        assert popen.poll() is None, "chromium exited"
        await asyncio.sleep(0.05)
    devtools_port = int(port_file.read_text().split()[0])
    seen: dict[str, Any] = {}
    async with _client_session() as session:
        listing = await session.get(f"http://127.0.0.1:{devtools_port}/json/list")
        page = next(t for t in await listing.json() if t["type"] == "page")
        assert page["webSocketDebuggerUrl"].startswith("ws://127.0.0.1:"), page
        async with session.ws_connect(
            page["webSocketDebuggerUrl"], max_msg_size=0, timeout=_ws_timeout()
        ) as ws:
            tools = DevTools(ws)
            for domain in ("Network", "Runtime", "Log", "Debugger", "Page"):
                await tools.call(f"{domain}.enable")
            # Without the token: the 403 text.
            await tools.call("Page.navigate", url=served.base + "/")
            seen["refused"] = await tools.wait_for(
                "document.body && document.body.innerText", within=10
            )
            # textual.js keeps its xterm Terminal in a closure: a breakpoint condition that
            # never pauses hands it to the test when fit() runs.
            await tools.call(
                "Debugger.setBreakpointByUrl",
                lineNumber=0,
                columnNumber=_fit_column(),
                urlRegex=r"/static/js/textual\.js$",
                condition="(window.__cockpitTerm = this.terminal, false)",
            )
            await tools.call("Page.navigate", url=served.url)
            want = " && ".join(f"t.includes({json.dumps(w)})" for w in (TITLE, *PANES))
            seen["screen"] = await tools.wait_for(
                f"(() => {{ const t = {TERMINAL_TEXT}; return ({want}) ? t : ''; }})()",
                within=25,
            ) or await tools.evaluate(TERMINAL_TEXT)
            seen["location"] = await tools.evaluate("location.href")
            seen["body_class"] = await tools.evaluate("document.body.className")
            seen["events"] = list(tools.events)
    return seen


def test_headless_chromium_shows_the_cockpit(served: Served, tmp_path: Path) -> None:
    chromium = _chromium()
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))
    popen = subprocess.Popen(
        [
            str(chromium),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--metrics-recording-only",
            "--disable-default-apps",
            "--disable-extensions",
            "--no-default-browser-check",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--window-size=1400,900",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        seen = asyncio.run(compat.wait_for(_drive_chromium(served, profile, popen), 60))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=10)

    assert "forbidden" in seen["refused"] and "token" in seen["refused"]
    screen = seen["screen"]
    for word in (TITLE, *PANES, "READ-ONLY"):
        assert word in screen, f"{word!r} not on the screen:\n{screen}"
    assert "-first-byte" in seen["body_class"]
    assert "token=" not in seen["location"]  # taken out of the address bar
    origin = f"127.0.0.1:{served.port}/"
    urls = [
        event["params"]["request"]["url"]
        for event in seen["events"]
        if event.get("method") == "Network.requestWillBeSent"
    ] + [
        event["params"]["url"]
        for event in seen["events"]
        if event.get("method") == "Network.webSocketCreated"
    ]
    assert any(url.startswith(f"ws://{origin}ws") for url in urls), urls
    outside = [url for url in urls if not re.match(rf"(http|ws)://{re.escape(origin)}", url)]
    assert outside == [], outside
    blocked = [
        event
        for event in seen["events"]
        if "Content Security Policy" in json.dumps(event.get("params", {}))
    ]
    assert blocked == [], blocked


# Last: what the server printed over all the sessions above


def test_the_token_is_printed_once_and_nothing_else_is_noisy(served: Served) -> None:
    output = served.output()
    assert output.count(served.token) == 1, output
    assert "Traceback" not in output
    assert "___" not in output  # no textual-serve logo banner
    assert served.stdout[0].startswith("Open http://127.0.0.1:")
