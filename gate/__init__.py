"""pullgate: prove before deploy that every container image will pull."""

__version__ = "0.1.0"
