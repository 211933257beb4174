"""The entry point hypercorn serves: `hypercorn webapp.asgi:app` (webapp/serving.py, its settings).

Hypercorn's WSGI middleware reads the whole request body in the event loop before a thread runs
the Flask app, so a client that dribbles costs a coroutine, not a thread. One gap is closed here:
the middleware takes a client gone silent or away mid-body for the end of the body and would run
the app on the truncated bytes; such a request is answered 400 instead, the app never called.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from hypercorn.middleware import AsyncioWSGIMiddleware

from webapp import MAX_BODY_BYTES
from webapp.wsgi import app as flask_app

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _BodyIncomplete(Exception):
    pass


class CompleteBodiesOnly:
    def __init__(self, wsgi_app: Any, max_body_size: int) -> None:
        self.inner = AsyncioWSGIMiddleware(wsgi_app, max_body_size)

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return

        async def body_messages() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _BodyIncomplete
            return message

        try:
            await self.inner(scope, body_messages, send)
        except _BodyIncomplete:
            # Sent if the client still listens (a read timeout); dropped if it left.
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"incomplete request body\n"})


# Up to the app's limit plus the one byte that lets Flask answer 413; a larger body is refused
# (400) as it arrives, without being buffered further.
app = CompleteBodiesOnly(flask_app, MAX_BODY_BYTES + 1)
