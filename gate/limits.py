"""Bounds on what a flag or `.pullgate.yaml` may set, one place for both."""

MAX_SECONDS = 86_400  # --timeout / --deadline: finite, at most a day
MAX_CONCURRENCY = 256  # a repository's file cannot start 100,000 threads
