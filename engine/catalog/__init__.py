"""The configuration snapshot every decision reads, and the marketer's writes that change it."""
