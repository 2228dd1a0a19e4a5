"""A whole cockpit in a process of its own, headless, for the probe-writer fault tests.

usage: python tests/probe_cockpit_child.py CONFIG LOG AUTHOR

Runs CockpitApp with its probes (every queue source, DNS, auth and service checks as the
config says) and no terminal, until it is killed. Prints "running" once the app has mounted.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cockpit.config.load import load_config
from cockpit.ui.app import CockpitApp


def main(argv: list[str]) -> int:
    config_path, log_path, author = argv
    config = load_config(Path(config_path))
    app = CockpitApp(Path(log_path), author=author, config=config)

    def ready() -> None:
        print("running", flush=True)

    app.call_later(ready)
    app.run(headless=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
