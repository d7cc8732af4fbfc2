"""An HTTP peer on loopback answering each request with scripted raw bytes, for the IPP client.

`hostile_ipp.HostileIppServer` sends whole misbehaving answers by mode; this one sends whatever
bytes a test scripts, request after request, so that a test can break HTTP's framing exactly where
it wants (a header section without end, a bad chunk size, two `Content-Length`s, interim answers)
and see whether the client kept or reused the connection.  Only 127.0.0.0/8 is ever bound.

`answers[n]` answers the n-th request (over all connections): bytes to send, after which the
connection stays open for the next request, or `CLOSE` (close without answering); bytes ending in
`CLOSE` are sent and the connection closed.  Past the script every request gets `ok_answer()`.
`accepted` counts the connections, `requests` the requests read.
"""

from __future__ import annotations

import asyncio

from tests.support.hostile_ipp import printer_attributes_body
from tests.support.keepalive_ipp import KeepAliveIppServer

CLOSE = b"<close>"
"""Close the connection (at the end of an answer, or instead of one)."""

def ok_answer(extra_headers: bytes = b"") -> bytes:
    """A well-formed keep-alive 200 answer with the small valid IPP body."""
    body = printer_attributes_body()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\n%sContent-Length: %d\r\n\r\n%s"
            % (extra_headers, len(body), body))


def chunked(body: bytes, size: int = 100, trailer: bytes = b"") -> bytes:
    """`body` as chunks of `size` bytes (with a chunk extension on the first), then the last
    chunk and `trailer` (header lines, each ending in CRLF)."""
    pieces = [body[at:at + size] for at in range(0, len(body), size)]
    framed = [b"%x;ext=1\r\n%s\r\n" % (len(pieces[0]), pieces[0])]
    framed += [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces[1:]]
    return b"".join(framed) + b"0\r\n" + trailer + b"\r\n"


class ScriptedHttpServer(KeepAliveIppServer):
    """`KeepAliveIppServer`'s connections, answered from `answers`."""

    def __init__(self, host: str, answers: list[bytes] | None = None) -> None:
        super().__init__(host)
        self.answers = answers or []

    async def _answer(self, served: int, writer: asyncio.StreamWriter) -> bool:
        answer = self.answers[self.requests] if self.requests < len(self.answers) else ok_answer()
        self.requests += 1
        writer.write(answer.removesuffix(CLOSE))
        await writer.drain()
        return not answer.endswith(CLOSE)
