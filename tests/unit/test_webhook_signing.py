"""Webhook signing, the retry schedule and the SSRF rules, without a database; signatures are
checked by the Standard Webhooks reference library on what a real loopback receiver got."""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from lastmile.core.config import Settings
from lastmile.events import delivery, signing
from lastmile.events.delivery import SCHEDULE, Claimed, parse_retry_after, retry_delay
from lastmile.events.egress import Egress, Refused, Resolved
from lastmile.events.sender import HttpSender
from tests.support.receiver import Receiver

pytestmark = pytest.mark.unit

LOOPBACK = Egress(allowed_names=frozenset(), allowed_networks=(), require_https=False)


def _allowing_loopback() -> Egress:
    return Egress(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


def test_signature_known_answer() -> None:
    """The vector of the reference library's own tests (reliability.md §1.2) signs the same."""
    got = signing.signature(
        secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=b'{"test": 2432232314}',
    )
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    mac = hmac.new(key, b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}', "sha256")
    assert got == "v1," + base64.b64encode(mac.digest()).decode()


def test_new_secrets_are_32_random_bytes() -> None:
    """A secret is `whsec_` + base64 of 32 bytes, different every time."""
    made = {signing.new_secret() for _ in range(50)}
    assert len(made) == 50
    for secret in made:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_two_secrets_sign_space_separated() -> None:
    """During a rotation the header carries one `v1,` signature per secret, new first."""
    new, old = signing.new_secret(), signing.new_secret()
    value = signing.signature(secrets=[new, old], msg_id="evt_1", timestamp=1, body=b"{}")
    first, second = value.split(" ")
    assert first == signing.signature(secrets=[new], msg_id="evt_1", timestamp=1, body=b"{}")
    assert second == signing.signature(secrets=[old], msg_id="evt_1", timestamp=1, body=b"{}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _claimed(secrets: list[str], event_id: str, data: Any, url: str) -> Claimed:
    body = json.dumps(
        {
            "id": event_id,
            "type": "task.created",
            "timestamp": "2026-11-26T09:41:07.512000Z",
            "tenant_id": "ten_x",
            "data": data,
        },
        ensure_ascii=False,
    ).encode()
    return Claimed(
        message_id="msg_x",
        tenant_id="ten_x",
        endpoint_id="whe_x",
        event_id=event_id,
        event_type="task.created",
        attempt=1,
        trigger="schedule",
        url=url,
        secrets=tuple(secrets),
        body=body,
        lease_id="lse_x",
    )


def _flip(signature_value: str) -> str:
    """Every signature of the header with one bit changed."""
    out = []
    for item in signature_value.split(" "):
        version, sig = item.split(",")
        raw = bytearray(base64.b64decode(sig))
        raw[0] ^= 1
        out.append(f"{version},{base64.b64encode(bytes(raw)).decode()}")
    return " ".join(out)


@pytest.fixture(scope="module")
def receiver() -> Any:
    with Receiver() as r:
        yield r


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=json_values,
    event_id=st.from_regex(r"evt_[A-Za-z0-9]{1,24}", fullmatch=True),
    rotating=st.booleans(),
)
def test_reference_library_verifies_every_delivery_and_no_tampered_one(
    receiver: Receiver, data: Any, event_id: str, rotating: bool
) -> None:
    """What a receiver gets verifies with each signing secret, and fails once body, id,
    timestamp or signature is changed."""
    secrets = [signing.new_secret()] + ([signing.new_secret()] if rotating else [])
    claimed = _claimed(secrets, event_id, data, receiver.url)
    before = len(receiver.hits)

    async def send() -> delivery.Outcome:
        async with HttpSender(egress=_allowing_loopback(), timeout=5) as sender:
            return await sender.send(claimed)

    outcome = asyncio.run(send())
    assert outcome.succeeded, outcome
    hit = receiver.hits[before]
    assert hit.body == claimed.body  # the bytes signed are the bytes sent
    assert hit.headers["webhook-id"] == event_id
    assert hit.headers["content-type"] == "application/json"
    for secret in secrets:
        assert Webhook(secret).verify(hit.body, hit.headers) == json.loads(claimed.body)
    stranger = Webhook(signing.new_secret())
    with pytest.raises(WebhookVerificationError):
        stranger.verify(hit.body, hit.headers)
    ts = int(hit.headers["webhook-timestamp"])
    tampered = [
        (hit.body + b" ", hit.headers),
        (hit.body.replace(b"ten_x", b"ten_y"), hit.headers),
        (hit.body, {**hit.headers, "webhook-id": event_id + "x"}),
        (hit.body, {**hit.headers, "webhook-timestamp": str(ts - 1)}),
        (hit.body, {**hit.headers, "webhook-signature": _flip(hit.headers["webhook-signature"])}),
    ]
    for secret in secrets:
        for body, headers in tampered:
            with pytest.raises(WebhookVerificationError):
                Webhook(secret).verify(body, headers)


def test_schedule_has_ten_attempts_with_jitter() -> None:
    """Retries follow 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h within ±20 %, and
    none follows the tenth attempt."""
    assert SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    for attempt in range(1, 10):
        delays = [retry_delay(attempt) for _ in range(200)]
        assert all(d is not None for d in delays)
        low, high = min(d or 0 for d in delays), max(d or 0 for d in delays)
        assert 0.8 * SCHEDULE[attempt] <= low <= high <= 1.2 * SCHEDULE[attempt]
        assert high > low  # jittered
    assert retry_delay(10) is None
    assert retry_delay(1, retry_after=120) == 120  # never before Retry-After
    assert (retry_delay(9, retry_after=10) or 0) >= 0.8 * 86400
    assert retry_delay(1, retry_after=10**9) == delivery.RETRY_AFTER_CAP


def test_retry_after_in_seconds_or_http_date() -> None:
    """`Retry-After` is read as delay-seconds or as an HTTP date; nonsense is ignored."""
    now = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Thu, 26 Nov 2026 12:05:00 GMT", now) == 300
    assert parse_retry_after("Thu, 26 Nov 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-5", now) is None
    assert now + timedelta(seconds=parse_retry_after("7", now) or 0) > now


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hooks",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        "http://2130706433/",  # 127.0.0.1 written as a number
        "http://localhost:9/",  # a name resolving to loopback
    ],
)
async def test_private_addresses_are_refused_at_every_send(url: str) -> None:
    """Registration and each send refuse private, loopback, link-local, reserved, multicast
    and unspecified addresses, written or resolved."""
    with pytest.raises(Refused):
        await LOOPBACK.check_registration(url)
    with pytest.raises(Refused):
        await LOOPBACK.target(url)


async def test_allow_list_and_pinned_address() -> None:
    """The allow-list admits names, addresses and networks; a send goes to the address that
    was checked, with the original Host and, for HTTPS, TLS server name."""
    egress = Egress.from_settings(Settings(webhook_allowed_hosts="localhost, 10.0.0.0/8 ,::1"))
    await egress.check_registration("http://10.1.2.3/hooks")
    await egress.check_registration("http://[::1]:8000/")
    target = await egress.target("http://localhost:8080/a?b=1")
    assert target.url in ("http://127.0.0.1:8080/a?b=1", "http://[::1]:8080/a?b=1")
    assert target.host_header == "localhost:8080" and target.sni_hostname is None
    tls = await egress.target("https://localhost/x")
    assert tls.sni_hostname == "localhost" and tls.host_header == "localhost"
    with pytest.raises(Refused):
        await egress.check_registration("http://192.168.1.1/")
    production = Egress(require_https=True)
    with pytest.raises(Refused, match="https"):
        production.parse("http://hooks.example.com/")
    for bad in ("ftp://x/", "http://user:pw@example.com/", "http://example.com/#frag", "http://"):
        with pytest.raises(Refused):
            LOOPBACK.parse(bad)


async def test_a_reused_resolution_is_checked_again() -> None:
    """Resolutions kept for a few seconds still go through the address check on every send."""
    cache = Resolved(ttl=60)
    allowing = Egress.from_settings(Settings(webhook_allowed_hosts="localhost"))
    first = await allowing.target("http://localhost:9/a", cache=cache)
    again = await allowing.target("http://localhost:9/b", cache=cache)
    assert first.url.rsplit("/", 1)[0] == again.url.rsplit("/", 1)[0]
    with pytest.raises(Refused):
        await LOOPBACK.target("http://localhost:9/a", cache=cache)
