"""Replication lag (how far each region's copy of the mail trails its source): read on the
queue sources' runner (sources.py), judged against warn/crit seconds (findings.py)."""
