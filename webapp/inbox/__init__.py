"""The agents' inbox: conversations, the timeline, replies, hand-off."""

from webapp.admin.access import admin_blueprint

blueprint = admin_blueprint("inbox", __name__)
