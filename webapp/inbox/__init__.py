"""The agents' inbox: conversations, the timeline, replies, hand-off."""
