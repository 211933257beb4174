"""The inbox's reply composer and conversation actions, and the owners' canned replies and
approved templates."""

from webapp.compose import library, views
from webapp.compose.blueprint import blueprint

__all__ = ["blueprint", "library", "views"]
