"""The secret key test databases are sealed with, where a test names one."""

from __future__ import annotations

from tidings.storage import KeyRing

# 32 bytes of base64, as TIDINGS_SECRET_KEY takes them.
TEST_KEY = "dGlkaW5ncy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDA="
TEST_KEYS = KeyRing.parse(TEST_KEY)
