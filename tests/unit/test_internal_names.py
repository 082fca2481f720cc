"""Tidings' own names in the customer API's space: internal uids, action URLs, and the
kind of a delivery that follows from them."""

from __future__ import annotations

import pytest

from tidings.domain.internal import (
    DeliveryKind,
    action_url,
    delivery_kind,
    is_internal_uid,
    parse_action_url,
    source_app_uid,
    source_of_app,
)


def test_a_source_application_uid_round_trips() -> None:
    uid = source_app_uid("src_abc")
    assert uid == "__tidings_source__src_abc" and is_internal_uid(uid)
    assert source_of_app(uid) == "src_abc"
    for other in (None, "customer", "__tidings_operational__"):
        assert source_of_app(other) is None


def test_internal_uids_are_those_with_the_prefix() -> None:
    assert is_internal_uid("__tidings_anything")
    assert not is_internal_uid("tidings_x") and not is_internal_uid(None)


def test_an_action_url_round_trips() -> None:
    url = action_url("deploys", "deploy")
    assert url == "action://deploys/deploy"
    assert parse_action_url(url) == ("deploys", "deploy")


@pytest.mark.parametrize(
    "url", ["https://a.example/hook", "action://", "action://only-source", "action:///name"]
)
def test_other_urls_are_not_actions(url: str) -> None:
    assert parse_action_url(url) is None


def test_the_kind_follows_from_the_application_and_the_url() -> None:
    source = source_app_uid("src_1")
    assert delivery_kind("customer", "https://a.example/") is DeliveryKind.HTTP
    # A customer endpoint cannot become an action by its URL alone.
    assert delivery_kind("customer", "action://x/y") is DeliveryKind.HTTP
    assert delivery_kind(None, "action://x/y") is DeliveryKind.HTTP
    assert delivery_kind(source, "https://a.example/") is DeliveryKind.FORWARD
    assert delivery_kind(source, "action://x/y") is DeliveryKind.ACTION
