"""Storage in an S3-compatible object store (AWS S3, MinIO, Cloudflare R2, Ceph...)."""

from __future__ import annotations

from typing import Any

import boto3
from anyio import to_thread
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lastmile.storage import ObjectNotFound, StorageError, validate_key

_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Storage:
    """Objects in one bucket; the boto3 client (thread-safe) runs in worker threads."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        # Path-style addressing works with every S3-compatible server (no wildcard DNS).
        config = Config(
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region or "us-east-1",
            config=config,
        )

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 put of {key} failed: {exc}") from exc

    def _get(self, key: str) -> tuple[bytes, str]:
        validate_key(key)
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=key)
            data: bytes = obj["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise ObjectNotFound(key) from None
            raise StorageError(f"S3 get of {key} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 get of {key} failed: {exc}") from exc
        return data, str(obj.get("ContentType") or "application/octet-stream")

    def _delete(self, key: str) -> None:
        validate_key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 delete of {key} failed: {exc}") from exc

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await to_thread.run_sync(self._put, key, data, content_type)

    async def get(self, key: str) -> tuple[bytes, str]:
        return await to_thread.run_sync(self._get, key)

    async def delete(self, key: str) -> None:
        await to_thread.run_sync(self._delete, key)
