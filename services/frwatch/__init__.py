"""frwatch: facial-recognition enforcement watch."""

__version__ = "0.1.0"
