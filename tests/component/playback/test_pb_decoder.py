"""Decoder fed fMP4 made in memory, as a non-seekable stream, against PyAV's own decoding."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from daemon.core.errors import MediaError
from daemon.playback.decoder import Decoder, PcmChunk, choose_output, flac_bit_depth
from daemon.playback.sinks.base import OutputCaps, SampleFormat, caps_from
from tests.component.playback.pb_media import Media, make_fmp4, reference_pcm, segment_for

ANY_RATE = caps_from([44100, 48000, 88200, 96000, 192000], ["S16_LE", "S32_LE"])


@pytest.fixture(scope="module")
def flac16() -> Media:
    return make_fmp4("flac", 44100, 16, seconds=3.0)


@pytest.fixture(scope="module")
def flac24() -> Media:
    return make_fmp4("flac", 96000, 24, seconds=3.0)


@pytest.fixture(scope="module")
def opus() -> Media:
    return make_fmp4("libopus", 48000, None, seconds=3.0)


async def decode(media: Media, caps: OutputCaps, *, first_segment: int = 0,
                 skip_to_s: float | None = None, piece: int | None = None,
                 max_queued: int = 4) -> tuple[Decoder, list[PcmChunk]]:
    """Feed init + segments (optionally cut into `piece`-byte bits) while reading chunks."""
    dec = Decoder(caps, max_queued_segments=max_queued)
    await dec.start(media.init, skip_to_s=skip_to_s)

    async def feed() -> None:
        for seg in media.segments[first_segment:]:
            if piece:
                for i in range(0, len(seg), piece):
                    await dec.feed(seg[i:i + piece])
            else:
                await dec.feed(seg)
        await dec.end_of_stream()

    feeder = asyncio.create_task(feed())
    chunks: list[PcmChunk] = []
    try:
        while (chunk := await asyncio.wait_for(dec.read(), 30)) is not None:
            chunks.append(chunk)
    finally:
        await dec.aclose()
        await feeder
    return dec, chunks


def assert_contiguous(chunks: list[PcmChunk]) -> None:
    for a, b in itertools.pairwise(chunks):
        assert b.start_frame == a.end_frame


async def test_flac_16_44_is_bit_exact_and_native(flac16: Media) -> None:
    ref, _ = reference_pcm(flac16.data)
    dec, chunks = await decode(flac16, ANY_RATE, piece=7000)
    assert dec.source is not None
    assert dec.source.bit_depth == 16
    assert dec.output is not None
    assert (dec.output.rate, dec.output.sample_format) == (44100, SampleFormat.S16_LE)
    assert b"".join(c.data for c in chunks) == ref
    assert chunks[0].start_frame == 0
    assert_contiguous(chunks)
    assert sum(c.frames for c in chunks) == 3 * 44100


async def test_flac_24_96_is_bit_exact_as_s32(flac24: Media) -> None:
    ref, _ = reference_pcm(flac24.data)
    dec, chunks = await decode(flac24, ANY_RATE)
    assert dec.source is not None
    assert dec.source.bit_depth == 24
    assert dec.output is not None
    assert dec.output.sample_format is SampleFormat.S32_LE
    pcm = b"".join(c.data for c in chunks)
    assert pcm == ref
    assert pcm[0::4] == bytes(len(pcm) // 4)  # 24-bit left-aligned: low byte always zero


async def test_24_bit_packed_for_a_s24_3le_device(flac24: Media) -> None:
    ref, _ = reference_pcm(flac24.data)
    dec, chunks = await decode(flac24, caps_from([96000], ["S24_3LE", "S16_LE"]))
    assert dec.output is not None
    assert dec.output.sample_format is SampleFormat.S24_3LE
    pcm = b"".join(c.data for c in chunks)
    expected = b"".join(ref[i + 1:i + 4] for i in range(0, len(ref), 4))
    assert pcm == expected


async def test_24_bit_sign_extended_for_a_s24_le_device(flac24: Media) -> None:
    ref, _ = reference_pcm(flac24.data)
    _, chunks = await decode(flac24, caps_from([96000], ["S24_LE"]))
    pcm = b"".join(c.data for c in chunks)
    ref_values = [int.from_bytes(ref[i:i + 4], "little", signed=True) >> 8
                  for i in range(0, 40_000, 4)]
    got_values = [int.from_bytes(pcm[i:i + 4], "little", signed=True) for i in range(0, 40_000, 4)]
    assert got_values == ref_values
    assert any(v < 0 for v in got_values)


async def test_opus_matches_pyav_after_format_conversion(opus: Media) -> None:
    ref, _ = reference_pcm(opus.data, "s32", 48000, "stereo")
    dec, chunks = await decode(opus, ANY_RATE, piece=3000)
    assert dec.source is not None
    assert dec.source.codec == "opus"
    assert dec.source.bit_depth is None
    assert dec.output is not None
    assert dec.output.sample_format is SampleFormat.S32_LE
    assert b"".join(c.data for c in chunks) == ref
    assert_contiguous(chunks)


async def test_eac3_5_1_folds_to_stereo_or_stays_multichannel() -> None:
    ec3 = make_fmp4("eac3", 48000, None, seconds=2.0, channels=6)
    ref2, _ = reference_pcm(ec3.data, "s32", 48000, "stereo")
    dec, chunks = await decode(ec3, ANY_RATE)
    assert dec.source is not None
    assert (dec.source.codec, dec.source.channels) == ("eac3", 6)
    assert dec.output is not None
    assert dec.output.channels == 2
    assert b"".join(c.data for c in chunks) == ref2
    hdmi = caps_from([48000], ["S16_LE", "S32_LE"], max_channels=8)
    ref6, _ = reference_pcm(ec3.data, "s32", 48000, "5.1(side)")
    dec6, chunks6 = await decode(ec3, hdmi)
    assert dec6.output is not None
    assert dec6.output.channels == 6
    assert b"".join(c.data for c in chunks6) == ref6


async def test_resamples_when_the_output_lacks_the_rate_and_logs_once(
        flac16: Media, caplog: pytest.LogCaptureFixture) -> None:
    caps = caps_from([48000, 96000], ["S32_LE"])
    with caplog.at_level(logging.INFO, logger="daemon.playback"):
        dec, chunks = await decode(flac16, caps)
    assert dec.output is not None
    assert (dec.output.rate, dec.output.sample_format) == (48000, SampleFormat.S32_LE)
    ref, _ = reference_pcm(flac16.data, "s32", 48000, "stereo")
    assert b"".join(c.data for c in chunks) == ref
    assert abs(sum(c.frames for c in chunks) - 3 * 48000) <= 64
    assert len([r for r in caplog.records if "decoder.resample" in r.getMessage()]) == 1


@pytest.mark.parametrize("target_s", [1.2, 1.3337, 2.5])
async def test_seek_by_segment_then_decode_and_skip_is_sample_exact(
        flac16: Media, target_s: float) -> None:
    ref, _ = reference_pcm(flac16.data)
    segment = segment_for(flac16, target_s)
    assert segment > 0
    _, chunks = await decode(flac16, ANY_RATE, first_segment=segment, skip_to_s=target_s)
    target = round(target_s * 44100)
    assert abs(chunks[0].start_frame - target) <= 1  # within one frame of the target...
    assert chunks[0].start_frame == target  # ...and in fact on it
    fb = 4
    pcm = b"".join(c.data for c in chunks)
    assert pcm == ref[target * fb:]


async def test_seek_with_resampling_lands_within_one_frame(flac24: Media) -> None:
    target_s = 1.75
    _, chunks = await decode(flac24, caps_from([48000], ["S16_LE"]),
                             first_segment=segment_for(flac24, target_s),
                             skip_to_s=target_s)
    assert abs(chunks[0].start_frame - round(target_s * 48000)) <= 1
    assert chunks[-1].end_frame == pytest.approx(3 * 48000, abs=64)


async def test_corrupt_segment_is_a_media_error(flac16: Media) -> None:
    bad = bytearray(flac16.segments[1])
    for i in range(2000, len(bad), 50):
        bad[i] ^= 0x5A
    broken = Media(flac16.codec, flac16.rate, flac16.bits, b"", flac16.init,
                   [flac16.segments[0], bytes(bad), flac16.segments[2]])
    with pytest.raises(MediaError, match="failed to decode"):
        await decode(broken, ANY_RATE)


@pytest.mark.parametrize("init", [b"garbage" * 100, b""])
async def test_unreadable_init_is_a_media_error(flac16: Media, init: bytes) -> None:
    broken = Media(flac16.codec, flac16.rate, flac16.bits, b"", init, flac16.segments)
    with pytest.raises(MediaError):
        await decode(broken, ANY_RATE)


async def test_feed_waits_for_room_and_aclose_unblocks_everything(flac16: Media) -> None:
    dec = Decoder(ANY_RATE, max_queued_segments=1)
    try:
        await dec.start(flac16.init)
        await asyncio.wait_for(dec.feed(flac16.segments[0]), 10)
        blocked = asyncio.create_task(dec.feed(flac16.segments[1]))
        await asyncio.sleep(0.05)
        assert not blocked.done()  # nothing reads, so the queue stays full
        pending = asyncio.create_task(read_all(dec))  # reading makes room
        await asyncio.wait_for(blocked, 10)
        # Once both segments are decoded the worker waits for bytes that never come.
        await asyncio.sleep(0.3)
        assert not pending.done()
    finally:
        await asyncio.wait_for(dec.aclose(), 10)
    chunks = await asyncio.wait_for(pending, 10)
    assert chunks[0].start_frame == 0
    assert chunks[-1].end_frame < 3 * 44100
    with pytest.raises(MediaError):
        await dec.feed(b"x")


async def read_all(dec: Decoder) -> list[PcmChunk]:
    chunks: list[PcmChunk] = []
    while (chunk := await dec.read()) is not None:
        chunks.append(chunk)
    return chunks


def test_choose_output_prefers_native_then_nearest() -> None:
    from daemon.playback.decoder import SourceInfo

    src24 = SourceInfo("flac", 96000, 2, 24, "s32")
    src16 = SourceInfo("flac", 44100, 2, 16, "s16")
    lossy = SourceInfo("eac3", 48000, 6, None, "fltp")
    pi_jack = caps_from([44100, 48000], ["S16_LE"])
    dac = caps_from([44100, 48000, 88200, 96000, 176400, 192000], ["S16_LE", "S24_LE", "S32_LE"])
    usb = caps_from([44100, 48000, 96000], ["S16_LE", "S24_3LE"])
    assert choose_output(src24, dac).describe() == "S32_LE/96000Hz/2ch"
    assert choose_output(src24, pi_jack).describe() == "S16_LE/48000Hz/2ch"
    assert choose_output(src24, usb).describe() == "S24_3LE/96000Hz/2ch"
    assert choose_output(src16, dac).describe() == "S16_LE/44100Hz/2ch"
    assert choose_output(src16, caps_from([88200], ["S32_LE"])).describe() == "S32_LE/88200Hz/2ch"
    assert choose_output(lossy, dac).describe() == "S32_LE/48000Hz/2ch"  # 5.1 folded to stereo
    with pytest.raises(MediaError):
        choose_output(src16, caps_from([44100], []))


def test_flac_bit_depth_reads_streaminfo() -> None:
    streaminfo = bytes.fromhex("20002000000000000000c41a1770037000000000000000000000000000000000")
    streaminfo += bytes(34 - len(streaminfo))
    assert flac_bit_depth(streaminfo) == 24
    assert flac_bit_depth(None) is None
    assert flac_bit_depth(b"\x00" * 5) is None


async def test_a_cancelled_read_loses_no_audio(flac16: Media) -> None:
    ref, _ = reference_pcm(flac16.data)
    dec = Decoder(ANY_RATE)
    try:
        await dec.start(flac16.init)
        pending = asyncio.create_task(dec.read())  # the worker waits: no segment yet
        await asyncio.sleep(0.05)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        for seg in flac16.segments:
            await dec.feed(seg)
        await dec.end_of_stream()
        chunks = await asyncio.wait_for(read_all(dec), 30)
    finally:
        await dec.aclose()
    assert chunks[0].start_frame == 0
    assert_contiguous(chunks)
    assert b"".join(c.data for c in chunks) == ref
