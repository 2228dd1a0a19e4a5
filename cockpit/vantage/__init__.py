"""Vantage points: DNS and the mail edge seen from other networks, through engines that run
there already, never through a home-made agent.

    looks = await look_all(config, watched)       # one VantageLook per [[vantage]] (look.py)
    merged = merge_looks(local_sweep, looks)      # their rows join the DNS matrix (merge.py)

Modules:
  model.py       VantageLook / VantageRow values; the one unknown row of an unusable vantage
  dig_batch.py   pure: the dig batch sent over ssh, and dig's output read back as Observations
  resolv_conf.py pure: the nameservers of a remote /etc/resolv.conf
  ssh.py         I/O: one multiplexed ssh connection per vantage (a private 0700 directory),
                 one dig process per resolver with every question batched on its stdin,
                 run through the queue sources' runner (cockpit.queue.runner)
  blackbox.py    pure: the blackbox_exporter modules for the configured records and regions
                 (`cockpit vantage blackbox-modules`), and their names read back
  prometheus.py  I/O: what each site's blackbox probes say, read from Prometheus's HTTP API
  look.py        one look per vantage, each within its own timeout, all at once
  merge.py       pure: a local SweepResult plus the latest looks -> one SweepResult
  findings.py    the vantage area's findings (each vantage usable or not; service probes)

Every look is bounded by its vantage's timeout and runs beside the local sweep: a dead
vantage never delays the local sweep, the screen or quitting.
This package never imports textual.
"""
