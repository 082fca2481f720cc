"""Tidings: a self-hosted, Svix-compatible webhook platform."""

__version__ = "0.1.0"

__all__ = ["__version__"]
