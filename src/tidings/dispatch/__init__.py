"""Message -> deliveries."""

from tidings.dispatch.fanout import select_endpoints

__all__ = ["select_endpoints"]
