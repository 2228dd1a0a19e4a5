"""`cockpit drill`'s built-in world on loopback (DNS, SMTP, IMAP, HTTP), no config, no network.

    world.py        DrillWorld: the scenario (fail_primary, switch_to) and its servers' thread
    zones.py        the regions' names and addresses, DKIM keys, the zone texts
    zonestore.py    the published zones, versioned by the clock
    responder.py    the authoritative server and the caching resolvers (UDP and TCP)
    queue_model.py  queue depths that grow while mail goes to a dead region and drain after
    control_model.py  each region's control-plane role and replication lag
    queue_http.py   those depths, lags and roles over HTTP
    mail_servers.py SMTP listeners on the MX addresses, IMAP greeters, all with STARTTLS
    certs.py        the drill's CA and the server certificates it signs (keys in memory)
    config.py       the cockpit config that points at a running world

The drill replaces the world, never the cockpit: the cockpit's own probes observe it over real
sockets. This package never imports textual.
"""

from cockpit.drill.config import drill_config_text
from cockpit.drill.queue_model import QueueReading
from cockpit.drill.world import DrillError, DrillResolver, DrillWorld
from cockpit.drill.zones import Timings

__all__ = [
    "DrillError",
    "DrillResolver",
    "DrillWorld",
    "QueueReading",
    "Timings",
    "drill_config_text",
]
