"""Customer data in and out: attribute upserts, activities, the full view, and erasure."""
