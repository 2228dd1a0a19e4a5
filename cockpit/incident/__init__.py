"""The incident: append-only log, phases and metrics, export."""
