"""Storage adapters (local directory, S3 over its wire protocol) and signed file URLs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from lastmile.core.config import Settings
from lastmile.storage import (
    InvalidKey,
    ObjectNotFound,
    Storage,
    StorageError,
    make_storage,
    storage_for,
    validate_key,
)
from lastmile.storage.local import LocalStorage
from lastmile.storage.s3 import S3Storage
from lastmile.storage.signing import FILES_PATH, sign, signed_url, verify_token
from tests.conftest import settings_for
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle

UNSAFE_KEYS = [
    "../etc/passwd",
    "/etc/passwd",
    "ten_a/../../x",
    "ten_a/./x",
    "ten_a//x",
    "ten_a/.meta/x",
    ".meta/ten_a/x",
    "ten_a/x/",
    "ten_a\\..\\x",
    "ten_a/x\x00.png",
    "",
    "a" * 301,
]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)


def _roundtrip(storage: Storage) -> None:
    async def go() -> None:
        await storage.put("ten_a/proofs/tsk_1/p.png", PNG, "image/png")
        assert await storage.get("ten_a/proofs/tsk_1/p.png") == (PNG, "image/png")
        await storage.put("ten_a/proofs/tsk_1/p.png", b"second", "image/jpeg")
        assert await storage.get("ten_a/proofs/tsk_1/p.png") == (b"second", "image/jpeg")
        await storage.delete("ten_a/proofs/tsk_1/p.png")
        with pytest.raises(ObjectNotFound):
            await storage.get("ten_a/proofs/tsk_1/p.png")
        await storage.delete("ten_a/proofs/tsk_1/p.png")  # deleting nothing is fine
        with pytest.raises(ObjectNotFound):
            await storage.get("ten_a/never-stored.png")
        for key in UNSAFE_KEYS:
            with pytest.raises(InvalidKey):
                await storage.put(key, b"x", "text/plain")
            with pytest.raises(InvalidKey):
                await storage.get(key)

    asyncio.run(go())


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_refused(key: str) -> None:
    """Keys that could leave their namespace (.., absolute, empty segments, NUL) are refused."""
    with pytest.raises(InvalidKey):
        validate_key(key)


def test_local_storage_roundtrip(tmp_path: Path) -> None:
    """The local backend stores, replaces, returns (with content type) and deletes objects."""
    _roundtrip(LocalStorage(tmp_path / "store"))


def test_local_storage_stays_inside_its_directory(tmp_path: Path) -> None:
    """Files land under the root only; traversal writes nothing anywhere else."""
    root = tmp_path / "store"
    storage = LocalStorage(root)
    asyncio.run(storage.put("ten_a/x.png", PNG, "image/png"))
    assert (root / "ten_a" / "x.png").read_bytes() == PNG
    with pytest.raises(InvalidKey):
        asyncio.run(storage.put("../outside.png", PNG, "image/png"))
    assert not (tmp_path / "outside.png").exists()
    leftovers = [p.name for p in root.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_local_storage_refuses_symlink_escape(tmp_path: Path) -> None:
    """A symlink inside the root that points outside cannot be used to write outside."""
    root = tmp_path / "store"
    (root / "ten_a").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "ten_a" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidKey):
        asyncio.run(LocalStorage(root).put("ten_a/link/x.png", PNG, "image/png"))
    assert list(outside.iterdir()) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A local HTTP server speaking the S3 wire protocol (moto's server mode)."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _s3_settings(endpoint: str, bucket: str) -> Settings:
    return Settings(
        storage_backend="s3",
        s3_endpoint_url=endpoint,
        s3_bucket=bucket,
        s3_access_key_id="test-access",
        s3_secret_access_key="test-secret",
        s3_region="eu-central-1",
    )


def test_s3_storage_roundtrip(s3_endpoint: str) -> None:
    """The S3 backend stores, returns (with content type) and deletes objects over HTTP."""
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test-access",
        aws_secret_access_key="test-secret",
        region_name="us-east-1",
    ).create_bucket(Bucket="proofs")
    storage = make_storage(_s3_settings(s3_endpoint, "proofs"))
    assert isinstance(storage, S3Storage)
    _roundtrip(storage)


def test_s3_storage_object_lands_in_the_bucket(s3_endpoint: str) -> None:
    """What put() writes is an ordinary object of the bucket, with its Content-Type."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="k",
        aws_secret_access_key="s",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="landing")
    storage = make_storage(_s3_settings(s3_endpoint, "landing"))
    asyncio.run(storage.put("ten_a/proofs/t/p.png", PNG, "image/png"))
    obj = client.get_object(Bucket="landing", Key="ten_a/proofs/t/p.png")
    assert obj["Body"].read() == PNG and obj["ContentType"] == "image/png"


def test_s3_errors_are_storage_errors(s3_endpoint: str) -> None:
    """A missing bucket is a StorageError (mapped to a 5xx by the caller), not a silent success."""
    storage = make_storage(_s3_settings(s3_endpoint, "no-such-bucket"))
    with pytest.raises(StorageError):
        asyncio.run(storage.put("ten_a/x.png", PNG, "image/png"))


def test_s3_backend_needs_a_bucket() -> None:
    """LASTMILE_STORAGE_BACKEND=s3 without LASTMILE_S3_BUCKET is a clear configuration error."""
    with pytest.raises(StorageError, match="LASTMILE_S3_BUCKET"):
        make_storage(Settings(storage_backend="s3"))


def test_local_backend_is_the_default(tmp_path: Path) -> None:
    """Without configuration files go to the local directory backend."""
    storage = make_storage(Settings(storage_dir=str(tmp_path)))
    assert isinstance(storage, LocalStorage) and storage.root == tmp_path.resolve()


def test_signed_token_roundtrip_and_refusals() -> None:
    """A token verifies to its grant; tampered, expired, foreign-tenant and access tokens do not."""
    url, expires = signed_url(
        tenant_id="ten_a", storage_key="ten_a/p/x.png", content_type="image/png"
    )
    assert url.startswith(FILES_PATH)
    token = url.removeprefix(FILES_PATH)
    grant = verify_token(token)
    assert grant is not None
    assert (grant.tenant_id, grant.storage_key, grant.content_type) == (
        "ten_a",
        "ten_a/p/x.png",
        "image/png",
    )
    assert grant.expires_at == expires
    head, body, sig = token.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert verify_token(f"{head}.{body}.{flipped}") is None
    expired, _ = sign(
        tenant_id="ten_a",
        storage_key="ten_a/p/x.png",
        content_type="image/png",
        ttl=timedelta(seconds=-1),
    )
    assert verify_token(expired) is None
    assert verify_token("not-a-token") is None
    with pytest.raises(InvalidKey):
        sign(tenant_id="ten_a", storage_key="ten_b/p/x.png", content_type="image/png")


def test_signed_url_ttl_defaults_to_the_setting() -> None:
    """Without a ttl a URL lives LASTMILE_SIGNED_URL_TTL_SECONDS; an explicit ttl wins."""
    _, default = signed_url(tenant_id="ten_a", storage_key="ten_a/x.png", content_type="image/png")
    _, short = signed_url(
        tenant_id="ten_a", storage_key="ten_a/x.png", content_type="image/png", ttl=10
    )
    assert 250 < (default - short).total_seconds() < 300


# --- GET /v1/files/{token} over HTTP -------------------------------------------------------


@pytest.fixture
def stored(database: TestDatabase, tenant: TenantHandle) -> str:
    """A PNG put in the live server's storage under tenant A's namespace; returns its key."""
    key = f"{tenant.id}/tests/pixel.png"
    asyncio.run(storage_for(settings_for(database)).put(key, PNG, "image/png"))
    return key


def test_file_is_served_through_its_signed_url(
    client: httpx.Client, tenant: TenantHandle, stored: str
) -> None:
    """A valid signed URL returns the bytes with the stored type, private caching and nosniff."""
    url, _ = signed_url(tenant_id=tenant.id, storage_key=stored, content_type="image/png", ttl=120)
    r = client.get(url)
    assert r.status_code == 200
    assert r.content == PNG
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    cache = r.headers["cache-control"]
    assert cache.startswith("private, max-age=")
    assert 100 <= int(cache.split("=")[1]) <= 120


@pytest.mark.parametrize("how", ["expired", "tampered", "garbage", "missing-object"])
def test_bad_file_tokens_are_404(
    client: httpx.Client, tenant: TenantHandle, stored: str, how: str
) -> None:
    """Expired, tampered or unknown tokens and deleted objects are a 404 problem, never a 403."""
    key, ttl = stored, timedelta(seconds=60)
    if how == "expired":
        ttl = timedelta(seconds=-1)
    if how == "missing-object":
        key = f"{tenant.id}/tests/never-stored.png"
    token, _ = sign(tenant_id=tenant.id, storage_key=key, content_type="image/png", ttl=ttl)
    if how == "tampered":
        head, body, sig = token.split(".")
        token = f"{head}.{body[:-3]}AAA.{sig}"
    if how == "garbage":
        token = "eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiJmaWxlIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    r = client.get(FILES_PATH + token)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert PNG not in r.content


def test_access_token_is_not_a_file_token(client: httpx.Client, tenant: TenantHandle) -> None:
    """A user's access token (same secret, other purpose) opens no file."""
    token = tenant.login(tenant.admin_email)["access_token"]
    assert client.get(FILES_PATH + token).status_code == 404
