import time

import pytest

from tidings.config import SETTINGS, Settings, from_env, settings_table
from tidings.domain.errors import InvalidInput
from tidings.domain.filters import endpoint_matches
from tidings.domain.ids import has_prefix, new_id
from tidings.storage import pagination


@pytest.mark.parametrize(
    ("disabled", "types", "channels", "event", "msg_channels", "expected"),
    [
        (False, None, None, "a", None, True),
        (True, None, None, "a", None, False),
        (False, ["a"], None, "a", None, True),
        (False, ["b"], None, "a", None, False),
        (False, None, ["eu"], "a", None, False),
        (False, None, ["eu"], "a", ["us", "eu"], True),
        (False, None, ["eu"], "a", ["us"], False),
        (False, ["a"], ["eu"], "a", ["eu"], True),
    ],
)
def test_endpoint_matching(disabled, types, channels, event, msg_channels, expected) -> None:  # type: ignore[no-untyped-def]
    assert endpoint_matches(disabled, types, channels, event, msg_channels) is expected


def test_ids_are_prefixed_unique_and_time_ordered() -> None:
    made = [new_id("msg") for _ in range(1000)]
    assert len(set(made)) == 1000
    assert all(has_prefix(i, "msg") and not has_prefix(i, "ep") for i in made)
    time.sleep(0.002)
    assert max(made) < new_id("msg")  # lexical order is creation order across milliseconds


def test_settings_from_environment() -> None:
    settings = from_env(
        {"TIDINGS_PORT": "9000", "TIDINGS_RETRY_SCHEDULE": "0,1.5", "TIDINGS_DEV": "1"}
    )
    assert (settings.port, settings.retry_schedule, settings.dev) == (9000, (0, 1.5), True)
    assert from_env({}) == Settings()


def test_bad_setting_is_reported_by_variable_name() -> None:
    with pytest.raises(ValueError, match="TIDINGS_REQUEST_TIMEOUT"):
        from_env({"TIDINGS_REQUEST_TIMEOUT": "-1"})
    with pytest.raises(ValueError, match="TIDINGS_DATABASE_POOL_SIZE"):
        from_env({"TIDINGS_DATABASE_POOL_SIZE": "0"})
    assert from_env({"TIDINGS_DATABASE_POOL_SIZE": "25"}).database_pool_size == 25


def test_settings_table_documents_every_setting() -> None:
    table = settings_table()
    assert all(setting.env in table for setting in SETTINGS)


def test_iterators_round_trip_and_garbage_is_rejected() -> None:
    cursor = pagination.decode(pagination.encode(42, forward=False))
    assert (cursor.after_key, cursor.forward) == (42, False)
    for bad in ("itr_!!", "itr_" + "eDQy", "hello"):
        with pytest.raises(InvalidInput):
            pagination.decode(bad)
