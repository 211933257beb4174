"""Live updates of the admin pages: Server-Sent Events fed by PostgreSQL LISTEN/NOTIFY.

views.py: the Flask route of /t/<slug>/live, which only says who may listen (tenant, user);
stream.py: the stream itself, served in the event loop by webapp/asgi.py so that an open page
holds no thread; hub.py: the one listening connection of each web process.
"""
