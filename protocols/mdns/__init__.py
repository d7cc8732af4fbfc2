"""mDNS/DNS-SD discovery of printers: an asyncio browser on python-zeroconf (`browser`, with its
`listener`, the `service` records it reports and their `txt`), and a diagnostic command line,
`python -m protocols.mdns --interface eth0`."""
