"""pullgate: prove before deploy that every container image will pull."""

try:
    from gate._version import __version__
except ImportError:  # a source tree never built or installed: setuptools-scm wrote no version file
    __version__ = "0.0.0+unknown"
