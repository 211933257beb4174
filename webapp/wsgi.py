"""WSGI entry point: the Flask app, built once per process (webapp/asgi.py serves it)."""

import os

from domain.settings import Settings
from webapp import create_app

app = create_app(Settings.from_env(os.environ))
