"""`cockpit vantage blackbox-modules [--scrape-config]`: what an operator deploys so that a
`prometheus` vantage has something to read (cockpit.vantage.blackbox makes the text)."""

from __future__ import annotations

import argparse


def run_vantage(args: argparse.Namespace) -> int:
    from cockpit.cli import report_warning, write_stdout
    from cockpit.commands.common import load_required_config
    from cockpit.vantage.blackbox import blackbox_modules, scrape_config_example

    config = load_required_config(args.config)
    if args.scrape_config:
        vantages = [vantage for vantage in config.vantages if vantage.kind == "prometheus"]
        if not vantages:
            report_warning(
                "no [[vantage]] of kind prometheus is configured: the example uses the"
                ' defaults (job "blackbox", site label "site")'
            )
        write_stdout(scrape_config_example(config, vantages[0] if vantages else None))
        return 0
    write_stdout(blackbox_modules(config))
    return 0
