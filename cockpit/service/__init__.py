"""Region service probes: does each region take mail, as a remote client sees it?

Every MX host of a region (on `[service] mx_port`) and every `[[region.endpoint]]` is probed
the way a client would start: connect, read the greeting, ask what the server offers, upgrade
to TLS where configured, say goodbye. Nothing is sent, nobody logs in.

    findings.py     service_findings(config) -> list[Finding]: targets, name lookups, fan-out
    judge.py        one observation -> status and summary (the status rules)
    observation.py  ServiceObservation: what one probe at one address saw (plain, bounded data)
    session.py      one bounded connection for the line protocols (IMAP, POP3, tcp)
    lines.py        the bounded line reader for IMAP and POP3
    tls.py          the certificate facts and their verdict, shared by every kind
    smtp_check.py   smtp and submission (the SMTP conversation is cockpit.auth.smtp_probe's)
    imap_check.py, pop3_check.py, https_check.py, tcp_check.py   one module per other kind
"""
