"""printgw-cloud: the reference information management server (the patents' cloud).

It implements every operation of the published protocol (`protocols/cloud/openapi.yaml`) on
aiohttp and SQLAlchemy (SQLite file or PostgreSQL), so that the gateway can be run and tested
end to end, and so that a cloud team has an executable definition of the protocol.  It depends
on `protocols.cloud` only.  Start it with `printgw-cloud serve` or `CloudServer`.
"""
