from pathlib import Path

from tidings.api.spec import render

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"


def test_committed_openapi_matches_the_code() -> None:
    assert COMMITTED.read_text() == render(), "API changed: run `make openapi` and commit"


def test_every_sdk_resource_path_is_served() -> None:
    spec = render()
    for path in (
        "/api/v1/app",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
        "/api/v1/app/{app_id}/msg",
        "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
        "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
        "/api/v1/event-type/{event_type_name}",
        "/api/v1/health",
    ):
        assert f'"{path}"' in spec
