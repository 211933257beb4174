"""Hypercorn's settings for every way recado serves HTTP (`recado serve`, `recado run`, the image).

Hypercorn parses requests in its event loop and webapp/asgi.py reads each body whole there before
a thread runs the app: a client that dribbles its headers or body holds a coroutine and a socket,
never one of the threads that answer webhooks and /healthz.
"""

# A request, or a response's client, silent this long is dropped: no sender of webhooks pauses
# mid-request, and a chunk size announcing more than ever comes no longer holds the connection.
read_timeout = 5
keep_alive_timeout = 5
# In-flight requests are short; a stop waits this long for them.
graceful_timeout = 10
