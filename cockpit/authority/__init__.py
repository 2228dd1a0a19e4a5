"""Region authority: which region's control plane claims to be primary (sources.py reads one
role source on the queue sources' runner; judge.py, pure, finds split brain and a primary that
is not where the failover decision sends mail; findings.py runs both for `cockpit check`)."""
