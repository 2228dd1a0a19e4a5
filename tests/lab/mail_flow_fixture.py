"""Fixtures for the mail-flow lab (the lab itself is in mail_flow.py).

    pytest_plugins = ["tests.lab.mail_flow_fixture"]

    def test_x(mail_flow):            # the module's world, put back after this test
        mail_flow.publish_mismatched_dkim_key()
        ...

`mail_flow_module` starts one world per test module (about 2 s) and stops it at the end,
then fails the teardown if any of its processes is still alive. `mail_flow` is the same world
for one test: afterwards its DNS records are restored (and flushed) and a stopped Dovecot is
started again, so tests may change it freely. Only one world can run at a time: its addresses
and ports are fixed (port 25 on 127.0.71.1, ...), as a canary config would name them.
Where a server is missing the fixtures skip, except under CI=true where they fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab import LabError
from tests.lab.mail_flow import MailFlow, require_mail_flow, start_mail_flow


@pytest.fixture(scope="module")
def mail_flow_module() -> Iterator[MailFlow]:
    """One running mail world shared by a module's tests."""
    require_mail_flow()
    flow = start_mail_flow()
    try:
        yield flow
    finally:
        flow.stop()
        leftovers = flow.processes()
        if leftovers:
            raise LabError(f"the mail-flow lab left processes behind: {leftovers}")


@pytest.fixture
def mail_flow(mail_flow_module: MailFlow) -> Iterator[MailFlow]:
    """The module's world for one test; DNS and IMAP are put back afterwards."""
    yield mail_flow_module
    mail_flow_module.reset()
