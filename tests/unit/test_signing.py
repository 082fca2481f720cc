import pytest
import standardwebhooks

from tidings.signing import standard

# The published Standard Webhooks test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_published_vector_is_reproduced() -> None:
    assert standard.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIG


def test_verify_accepts_any_listed_signature_and_rejects_tampering() -> None:
    other = standard.generate_secret()
    header = f"{standard.sign(other, VECTOR_ID, VECTOR_TS, VECTOR_BODY)} {VECTOR_SIG}"
    assert standard.verify(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY, header)
    assert not standard.verify(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, b'{"test":2432232314}', header)
    assert not standard.verify(VECTOR_SECRET, VECTOR_ID, VECTOR_TS + 1, VECTOR_BODY, header)


def test_generated_secret_is_accepted_by_the_reference_library() -> None:
    secret = standard.generate_secret()
    assert secret.startswith("whsec_")
    body = b'{"a":1}'
    ts = 1_700_000_000
    header = standard.sign(secret, "msg_x", ts, body)
    reference = standardwebhooks.Webhook(secret)
    assert reference.sign("msg_x", _dt(ts), body.decode()) == header


def _dt(ts: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, tz=UTC)


@pytest.mark.parametrize("bad", ["whsec_not base64!", "whsec_" + "QUJD", ""])
def test_bad_secrets_are_rejected_with_a_reason(bad: str) -> None:
    with pytest.raises(standard.InvalidSecret):
        standard.secret_key(bad)
