"""One blueprint for the composer fragment, its actions and the pages that feed it."""

from webapp.admin.access import admin_blueprint

blueprint = admin_blueprint("compose", __name__)
