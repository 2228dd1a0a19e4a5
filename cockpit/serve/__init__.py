"""`cockpit serve`: the cockpit in a browser through textual-serve, for the war-room screen.

    policy.py   pure: which addresses may be bound, which Host and Origin headers are ours,
                the token and its cookie (no aiohttp here, so it tests fast)
    server.py   aiohttp + textual-serve: the guard middleware, the page, the websocket, and a
                child cockpit per browser tab started from an argv list (never a shell)

Only server.py imports aiohttp and textual_serve, and only `cockpit serve` imports server.py.
"""
