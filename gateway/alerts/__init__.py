"""Local alerts (docs/alerts.md): the events the gateway detects, sent to a webhook, by e-mail and
to syslog, whether or not the device is registered with a cloud.

`source` turns readings (and devices that stop answering) into `Alert`s, de-duplicated and
routed to the outputs that want them, and queues them durably (`queue`, SQLite); `dispatcher`
delivers each output's queue on its own (quiet hours, a token-bucket rate limit whose excess
goes out as one summary, back-off while the output is down) through `webhook`, `email` or
`syslog`.
"""
