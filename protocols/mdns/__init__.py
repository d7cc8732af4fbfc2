"""mDNS/DNS-SD discovery of printers: an asyncio browser on python-zeroconf (`browser`) and a
diagnostic command line, `python -m protocols.mdns --interface eth0`."""
