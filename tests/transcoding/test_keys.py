"""`LicensingKeyProvider` against the licensing server: one key per media asset and class,
the same keys on every call (retries, racing workers), the packager secret required, and no key
material in reprs or errors."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from vod.licensing.v1 import licensing_pb2 as lpb

from services.runtime.clients import open_channel
from services.transcoding.config import TranscodingSettings
from services.transcoding.deps import key_provider, licensing_channel
from services.transcoding.keys import (
    AUDIO,
    ContentKey,
    KeyServiceError,
    LicensingKeyProvider,
    video_class,
)
from services.transcoding.ladder import Rung
from services.transcoding.pipeline import key_classes
from tests.transcoding.conftest import LicensingUnderTest

SD, HD, UHD = lpb.TRACK_TYPE_VIDEO_SD, lpb.TRACK_TYPE_VIDEO_HD, lpb.TRACK_TYPE_VIDEO_UHD


def test_rung_heights_map_to_the_licensing_classes() -> None:
    assert [video_class(h) for h in (144, 480, 720)] == [SD, SD, SD]
    assert [video_class(h) for h in (721, 800, 1080)] == [HD, HD, HD]
    assert [video_class(h) for h in (1081, 1440, 2160)] == [UHD, UHD, UHD]
    ladder = [Rung(h, h * 16 // 9, 0) for h in (2160, 1080, 720, 360)]
    assert key_classes(ladder, audio=True) == [UHD, HD, SD, AUDIO]
    assert key_classes(ladder[2:], audio=False) == [SD]


def test_key_material_stays_out_of_reprs_and_errors() -> None:
    key = ContentKey("ab" * 16, SD, bytes(range(16)), bytes(range(16, 32)))
    assert bytes(range(16)).hex() not in repr(key) and "key=" not in repr(key)
    with pytest.raises(KeyServiceError) as err:
        ContentKey("ab" * 16, SD, b"\x01" * 15, b"\x02" * 16)
    assert "0101" not in str(err.value)


@pytest.fixture
async def provider(tc_settings: TranscodingSettings):  # type: ignore[no-untyped-def]
    channel = licensing_channel(tc_settings)
    assert channel is not None
    try:
        yield key_provider(tc_settings, channel)
    finally:
        await channel.close()


async def test_keys_are_created_once_and_fetched_after(
    provider: LicensingKeyProvider, tc_licensing: LicensingUnderTest
) -> None:
    first = await provider.content_keys("keys-once", [SD, HD, AUDIO])
    assert set(first) == {SD, HD, AUDIO}
    assert len({k.key_id for k in first.values()}) == 3
    assert len({k.key for k in first.values()}) == 3
    again = await provider.content_keys("keys-once", [HD, SD, AUDIO])
    assert again == first
    more = await provider.content_keys("keys-once", [SD, UHD])  # a class added later
    assert more[SD] == first[SD] and more[UHD].key_id not in {k.key_id for k in first.values()}
    stored = await tc_licensing.keys("keys-once")
    assert {t: k.key_id for t, k in stored.items()} == {
        SD: first[SD].key_id,
        HD: first[HD].key_id,
        AUDIO: first[AUDIO].key_id,
        UHD: more[UHD].key_id,
    }
    assert all(stored[t].key == k.key and stored[t].iv == k.iv for t, k in first.items())


async def test_racing_workers_end_up_with_the_same_keys(
    provider: LicensingKeyProvider, tc_licensing: LicensingUnderTest
) -> None:
    results = await asyncio.gather(
        *(provider.content_keys("keys-race", [SD, HD, AUDIO]) for _ in range(6))
    )
    assert all(r == results[0] for r in results)
    stored = await tc_licensing.keys("keys-race")
    assert sorted(k.key_id for k in stored.values()) == sorted(
        k.key_id for k in results[0].values()
    )


async def test_a_wrong_packager_secret_is_refused(tc_licensing: LicensingUnderTest) -> None:
    channel = open_channel(
        tc_licensing.address, timeout_s=5, metadata=(("x-vod-packager", "not-the-secret"),)
    )
    try:
        with pytest.raises(KeyServiceError) as err:
            await LicensingKeyProvider(channel).content_keys("keys-denied", [SD])
    finally:
        await channel.close()
    assert "PERMISSION_DENIED" in str(err.value)
    assert await tc_licensing.keys("keys-denied") == {}


def test_no_packager_secret_means_no_provider(tc_settings: TranscodingSettings) -> None:
    assert licensing_channel(replace(tc_settings, packager_secret="")) is None
    assert key_provider(tc_settings, None) is None
    assert tc_settings.packager_secret not in repr(tc_settings)
