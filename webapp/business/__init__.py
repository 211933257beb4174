"""The business's own pages: assistant settings, business profile and its versions."""
