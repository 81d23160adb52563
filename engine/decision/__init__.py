"""One decision in the order it runs: read, eligibility and contact policy, scoring,
arbitration, commit, log."""
