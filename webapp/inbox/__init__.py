"""The agents' inbox: conversations, the timeline, replies, hand-off.

One blueprint ("inbox") for the area; each page is a module that adds its views to it, imported
below so that registering the blueprint registers them all.
"""

from webapp.admin.access import admin_blueprint

blueprint = admin_blueprint("inbox", __name__)

# The pages' modules add their routes to `blueprint`: imported after it exists.
from webapp.inbox import conversation, listing, media  # noqa: E402

__all__ = ["blueprint", "conversation", "listing", "media"]
