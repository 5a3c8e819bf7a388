"""Provider API keys at rest (core.keystore): Fernet under a key derived per purpose."""

from __future__ import annotations

import pytest

from lastmile.core import keystore

pytestmark = pytest.mark.unit


def test_api_keys_round_trip_and_fail_closed_under_another_secret() -> None:
    """An encrypted key decrypts with the same secret, not with another, and is not the plain key."""
    token = keystore.encrypt("AIza-secret", secret_key="s" * 40, purpose=keystore.GEOCODER)
    assert "AIza-secret" not in token
    assert keystore.decrypt(token, secret_key="s" * 40, purpose=keystore.GEOCODER) == "AIza-secret"
    assert keystore.decrypt(token, secret_key="t" * 40, purpose=keystore.GEOCODER) is None
    assert keystore.decrypt("garbage", secret_key="s" * 40, purpose=keystore.GEOCODER) is None


def test_a_key_stored_for_one_purpose_does_not_decrypt_for_another() -> None:
    """Geocoder and routing keys are encrypted under different derived keys."""
    token = keystore.encrypt("AIza-secret", secret_key="s" * 40, purpose=keystore.ROUTING)
    assert keystore.decrypt(token, secret_key="s" * 40, purpose=keystore.ROUTING) == "AIza-secret"
    assert keystore.decrypt(token, secret_key="s" * 40, purpose=keystore.GEOCODER) is None
