"""Delivery statuses and attempt triggers, numbered exactly as the Svix API numbers them."""

from __future__ import annotations

from enum import IntEnum


class DeliveryStatus(IntEnum):
    SUCCESS = 0
    PENDING = 1
    FAIL = 2
    SENDING = 3
    CANCELED = 4

    @property
    def text(self) -> str:
        return self.name.lower()


class TriggerType(IntEnum):
    SCHEDULED = 0
    MANUAL = 1
