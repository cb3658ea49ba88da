"""Putting a title on the platform the way an operator's tool does, through the gateway as the
admin: create the catalog title, upload the master with `PUT` + `Content-Range`, queue the
transcode job, wait for it and for the catalog to mark the title READY. Shared by the end-to-end
tests (and usable by benchmarks)."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

__all__ = ["Ingested", "ingest_through_gateway", "wait_for"]

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout_s: float, what: str) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.25)


@dataclass
class Ingested:
    title: str
    """The catalog title, "titles/{title}"."""
    display_name: str
    job: dict[str, Any]
    """The finished job, as REST returns it (renditions with keyId, mediaAsset, ...)."""
    media: dict[str, Any]
    """The catalog title's media (state READY, asset, durationSeconds)."""

    @property
    def duration_s(self) -> float:
        return float(self.media["durationSeconds"])

    def key_ids_by_height(self) -> dict[int, str]:
        return {int(r["height"]): r.get("keyId", "") for r in self.job.get("renditions", [])}


def ingest_through_gateway(
    gateway_url: str,
    admin_headers: dict[str, str],
    source: bytes,
    *,
    options: dict[str, Any],
    regions: list[str],
    display_name: str = "",
    maturity_rating: str = "MATURITY_RATING_PG",
    timeout_s: float = 300,
) -> Ingested:
    """A READY title made from `source` (an encodable media file) with transcode `options`,
    available in `regions` since 2020."""
    display = display_name or f"E2E Title {uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=gateway_url, timeout=30, headers=admin_headers) as http:
        created = http.post(
            "/v1/titles",
            json={
                "type": "TITLE_TYPE_MOVIE",
                "displayName": display,
                "maturityRating": maturity_rating,
                "availability": [
                    {"regionCode": r, "startTime": "2020-01-01T00:00:00Z"} for r in regions
                ],
            },
        )
        assert created.status_code == 200, created.text
        title = created.json()["title"]["name"]
        upload_id = f"e2e-{uuid.uuid4().hex[:10]}"
        put = http.put(
            f"/upload/v1/uploads/{upload_id}",
            params={
                "title": title,
                "file_name": "source.mp4",
                "size_bytes": len(source),
                "content_type": "video/mp4",
                "sha256": hashlib.sha256(source).hexdigest(),
            },
            content=source,
            headers={"Content-Range": f"bytes 0-{len(source) - 1}/{len(source)}"},
        )
        assert put.status_code == 200, put.text
        made = http.post("/v1/jobs", json={"upload": f"uploads/{upload_id}", "options": options})
        assert made.status_code == 200, made.text
        job_name = made.json()["job"]["name"]

        def finished() -> dict[str, Any] | None:
            job = http.get(f"/v1/{job_name}").json()["job"]
            return job if job["state"] in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED") else None

        job = wait_for(finished, timeout_s, "the transcode")
        assert job["state"] == "JOB_STATE_SUCCEEDED", job.get("error")

        def ready() -> dict[str, Any] | None:
            media = http.get(f"/v1/{title}").json()["title"].get("media") or {}
            return media if media.get("state") == "MEDIA_STATE_READY" else None

        media = wait_for(ready, 60, "the catalog to mark the title READY")
    return Ingested(title, display, job, media)
