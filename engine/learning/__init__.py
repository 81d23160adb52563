"""Learning: bandit policies, the learner that applies rewards exactly once, the serving model
registry, and learned segments."""
