"""Canaries: a real message sent through a region, found again by IMAP, and verified.

    findings = await canary_findings(config, target, asker)    # every [[canary]], once
    findings = await run_canary(config, canary, target, asker, clock=utc_now)

What each run does and the findings it gives are in findings.py's docstring (the data contract
the screen, the checklist and the log rely on). The package, one module per concern:

    findings.py      run_canary, canary_findings, canary_unknown: a run's findings, the fan-out
    run.py           one run, step by step, into a RunRecord (stages config, send, find, verify)
    send_step.py     which hosts to send to and what their answers mean (lookups via the Asker)
    smtp_send.py     smtplib, bounded: to an MX (opportunistic TLS) or submission (TLS + AUTH)
    imap_find.py     log in, pick folders, search (IDLE or poll), fetch, delete
    imap_wire.py     imaplib, bounded: pinned address, capped reads, IDLE, mailbox names
    sweep.py         earlier messages of the canary: late ones reported, all old ones deleted
    watchdog.py      the deadline and cancellation of a blocking conversation in a thread
    secrets.py       passwords from the environment or an owner-only file, never shown
    message.py       the message and its token                                    (pure)
    headers.py       the delivered header block, bounded, as data                  (pure)
    received.py      Received headers as hops                                      (pure)
    authres.py       Authentication-Results of trusted receivers                   (pure)
    path_check.py    whether the hops belong to the region                         (pure)
    dkim_verify.py   dkimpy verification through the Asker, and its verdict
    spf_verify.py    pyspf (cockpit.auth.spf_check) for the receiving hop, and its verdict
    dmarc_verify.py  the From domain's policy and alignment
    verify.py        the four checks of one delivered message
    verdict.py       Verdict, and how a run's status is combined                   (pure)
    board.py         the latest run of each canary, for the screen                 (pure)

Nothing here imports textual. Modules are imported lazily by their users: `cockpit --help`
stays light.
"""
