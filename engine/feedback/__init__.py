"""Feedback events: joined to their decision once, turned into contact history and rewards."""
