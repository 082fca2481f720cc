import base64

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


def test_verify_finds_a_match_anywhere_in_the_list() -> None:
    """The valid signature first, then ones that do not match: still verified."""
    other = standard.generate_secret()
    wrong = standard.sign(other, VECTOR_ID, VECTOR_TS, VECTOR_BODY)
    header = f"{VECTOR_SIG} {wrong} v1a,whatever"
    assert standard.verify(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY, header)


def test_a_generated_secret_holds_24_random_bytes() -> None:
    secrets = {standard.generate_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert {len(standard.secret_key(secret)) for secret in secrets} == {24}


def test_a_secret_must_be_strict_base64() -> None:
    """Characters outside the alphabet are refused, not skipped (lenient decoding
    would turn `whsec_abc!def...` into some other key without a word)."""
    valid = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    with pytest.raises(
        standard.InvalidSecret,
        match=r"^secret must be base64, optionally prefixed with whsec_$",
    ):
        standard.secret_key("whsec_" + valid[:8] + "!" + valid[8:])


def test_key_length_bounds_are_inclusive() -> None:
    assert len(standard.secret_key(base64.b64encode(b"k" * 24).decode())) == 24
    assert len(standard.secret_key(base64.b64encode(b"k" * 64).decode())) == 64
    for size in (23, 65):
        with pytest.raises(standard.InvalidSecret, match=f"24-64 bytes, got {size}"):
            standard.secret_key(base64.b64encode(b"k" * size).decode())


def test_normalize_secret_adds_the_prefix_once_and_checks_the_key() -> None:
    bare = VECTOR_SECRET.removeprefix("whsec_")
    assert standard.normalize_secret(bare) == VECTOR_SECRET
    assert standard.normalize_secret(VECTOR_SECRET) == VECTOR_SECRET
    with pytest.raises(standard.InvalidSecret):
        standard.normalize_secret("whsec_short")
