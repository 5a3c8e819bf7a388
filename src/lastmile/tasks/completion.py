"""Completing or failing a task with its proof of delivery."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.tenancy import TenantContext
from lastmile.storage import Storage
from lastmile.tasks import lifecycle, proof
from lastmile.tasks.lifecycle import Completion
from lastmile.tasks.models import Task


async def complete(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    storage: Storage,
    task_id: str,
    completion: Completion,
    photos: list[bytes],
    signature: bytes | None,
    max_photo_bytes: int,
) -> Task:
    """Check state, driver and required proof, then validate every image, then store them and
    finish the task. Anything refused before the last step stores nothing."""
    task = await lifecycle.check_completion(
        session=session, tenant=tenant, task_id=task_id, completion=completion
    )
    images = [
        await proof.validate_image_async(data, field=f"photos[{i}]", max_bytes=max_photo_bytes)
        for i, data in enumerate(photos)
    ]
    sig = (
        await proof.validate_image_async(signature, field="signature", max_bytes=max_photo_bytes)
        if signature is not None
        else None
    )
    ids = []
    for image in images:
        row = await proof.store_proof(
            session=session,
            tenant=tenant,
            storage=storage,
            task_id=task.id,
            kind="photo",
            image=image,
        )
        ids.append(row.id)
    if sig is not None:
        row = await proof.store_proof(
            session=session,
            tenant=tenant,
            storage=storage,
            task_id=task.id,
            kind="signature",
            image=sig,
        )
        ids.append(row.id)
    return await lifecycle.finish(
        session=session, tenant=tenant, task=task, completion=completion, proof_ids=ids
    )
