"""What analysts read of traffic already served: export, off-policy evaluation and experiment
results."""
