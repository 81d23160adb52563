"""Load tests: locust users, the floor server and a headless runner (``python -m loadtests.run``).

Nothing here is imported by the product; the runner drives it over HTTP and its CLI.
"""
