"""The synthetic world of the demo, the demo experiment and the simulator; serving never
imports it."""
