"""Implementations of the `cockpit` subcommands; each imports only what it needs."""
