"""One decision in the order it runs (ARCHITECTURE.md, One decision): ``request``, ``customer``
(the customer as read), ``treatment`` (which policy), ``candidates`` and ``eligibility``,
``choice`` and ``arbitration``, ``response`` (the answer), ``record`` (what the commit and the
log write), ``log_queue`` (the log, after the response); ``fallback`` while the store is away;
``engine`` runs them."""
