"""The entry point hypercorn serves: `hypercorn webapp.asgi:app` (webapp/serving.py, its settings).

Hypercorn's WSGI middleware reads the whole request body in the event loop before a thread runs
the Flask app, so a client that dribbles costs a coroutine, not a thread. Two gaps are closed here:
the middleware takes a client gone silent or away mid-body for the end of the body and would run
the app on the truncated bytes (answered 400 instead), and it waits for a body however slowly it
comes (408 once BODY_SECONDS have passed). Either way the app is never called.

The admin pages' live stream (GET /t/<slug>/live) is served here in the event loop
(webapp/live/stream.py): an open page must not hold one of the few threads that run the app.
"""

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hypercorn.middleware import AsyncioWSGIMiddleware
from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Scope,
    WSGIFramework,
)

from webapp import BODY_SECONDS, MAX_BODY_BYTES
from webapp.live import stream
from webapp.live.hub import LiveHub
from webapp.wsgi import app as flask_app

if TYPE_CHECKING:
    # The WSGI protocol's types exist for the type checker only (typeshed).
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class CompleteBodiesOnly:
    def __init__(self, wsgi_app: WSGIFramework, max_body_size: int) -> None:
        self.inner = AsyncioWSGIMiddleware(wsgi_app, max_body_size)
        self.hub: LiveHub | None = None

    def live_hub(self) -> LiveHub:
        # Made on the first stream, inside the server's event loop.
        if self.hub is None:
            self.hub = LiveHub(flask_app.extensions["recado.settings"].database_url)
        return self.hub

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        if stream.is_stream_request(scope):
            pool = flask_app.extensions["recado.pool"]
            await stream.serve(self.inner, self.live_hub(), pool, scope, receive, send)
            return
        # The headers are in: the body's time starts now.
        deadline = time.monotonic() + BODY_SECONDS

        async def body_messages() -> ASGIReceiveEvent:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(400, "incomplete request body")
            if message.get("more_body") and time.monotonic() > deadline:
                raise _Refused(408, "request body too slow")
            return message

        try:
            await self.inner(scope, body_messages, send)
        except _Refused as refused:
            # Sent if the client still listens (a read timeout, a slow body); dropped if it left.
            headers = [(b"content-type", b"text/plain"), (b"connection", b"close")]
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": refused.status,
                "headers": headers,
            }
            await send(start)
            body: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": f"{refused.reason}\n".encode(),
                "more_body": False,
            }
            await send(body)


def _whole_body(environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
    # wsgi.input holds the whole body, read above: say so, or Werkzeug reads nothing of a chunked
    # body (it has no Content-Length to go by).
    environ["wsgi.input_terminated"] = True
    return flask_app(environ, start_response)


# Up to the app's limit plus the one byte that lets Flask answer 413; a larger body is refused
# (400) as it arrives, without being buffered further.
app = CompleteBodiesOnly(_whole_body, MAX_BODY_BYTES + 1)
