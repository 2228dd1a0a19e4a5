"""Real servers on loopback for the integration tests (see /work/shared/lab-notes.md)."""

import pytest

# Test modules import the lab before pytest loads it as a plugin: rewrite its asserts anyway.
pytest.register_assert_rewrite(__name__ + ".dnslab")
