"""Where a discovery run finds devices: one module per source, each adding `Candidate`s."""
