"""WSGI entry point: `gunicorn webapp.wsgi:app`."""

import os

from domain.settings import Settings
from webapp import create_app

app = create_app(Settings.from_env(os.environ))
