"""Generated content against independent references: PyAV's own CENC decryption, the
clear re-encode, and the exact PCM fed to the FLAC encoder."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest

from daemon.mp4.box import parse_boxes, walk
from daemon.mp4.pssh import WIDEVINE, parse_pssh
from daemon.sandbox.media import ContentStore
from tests.unit.sandbox_media.conftest import packet_md5s

# (track index in the small catalog, format): covers cenc and cbcs, FLAC, Opus and EC-3,
# and all three addressing modes.
CASES = [
    (0, "FLAC_24_192"),
    (0, "OPUS_192"),
    (0, "EC3"),
    (1, "FLAC_16_44"),
    (1, "OPUS_48"),
    (2, "FLAC_24_96"),
    (2, "OPUS_320"),
]


def _segments(store: ContentStore, track_id: str, format_id: str) -> tuple[bytes, list[bytes]]:
    count = len(store.tracks[track_id].layouts[format_id].segments)
    init = store.resource(track_id, f"{format_id}/init.mp4")
    return init, [store.resource(track_id, f"{format_id}/{n}.m4s") for n in range(1, count + 1)]


@pytest.mark.parametrize(("index", "format_id"), CASES)
def test_decrypts_to_the_clear_reference(
    small_store: ContentStore, index: int, format_id: str
) -> None:
    content = small_store.tracks[small_store.catalog.tracks[index].id]
    if format_id not in content.formats:
        pytest.skip(f"{format_id} unavailable: {content.unavailable.get(format_id)}")
    init, segments = _segments(small_store, content.id, format_id)
    encrypted = init + b"".join(segments)
    clear = packet_md5s(small_store.clear_reference(content.id, format_id))
    (key,) = small_store.keys(content.id).values()
    assert packet_md5s(encrypted, {"decryption_key": key.hex()}) == clear

    # Without the key: the clear lead (segments starting before 30 s) reads as is, every
    # later packet is ciphertext.
    flags = [s.clear for s in content.layouts[format_id].segments]
    assert flags == [True, True, True] + [False] * (len(flags) - 3)
    lead = len(packet_md5s(init + b"".join(segments[:3])))
    undecrypted = packet_md5s(encrypted)
    assert len(clear) > lead
    if format_id == "EC3":
        # FFmpeg's E-AC-3 parser re-splits ciphertext: it swallows the packets after the
        # lead (and merges the boundary packet into them).
        assert undecrypted[: lead - 1] == clear[: lead - 1]
        assert undecrypted[lead - 1 :] != clear[lead - 1 :]
    else:
        assert len(undecrypted) == len(clear)
        assert undecrypted[:lead] == clear[:lead]
        assert all(a != b for a, b in zip(undecrypted[lead:], clear[lead:], strict=True))


@pytest.mark.parametrize("index", [0, 2])
def test_init_has_clear_lead_entry_and_widevine_pssh(small_store: ContentStore, index: int) -> None:
    content = small_store.tracks[small_store.catalog.tracks[index].id]
    init = small_store.resource(content.id, "FLAC_16_44/init.mp4")
    boxes = dict(walk(parse_boxes(init)))
    stsd = boxes["moov/trak/mdia/minf/stbl/stsd"]
    assert [b.type for b in stsd.children or []] == ["enca", "fLaC"]
    assert boxes["moov/trak/mdia/minf/stbl/stsd/enca/sinf/schm"].payload[4:8] == (
        content.scheme.encode()
    )
    tenc = boxes["moov/trak/mdia/minf/stbl/stsd/enca/sinf/schi/tenc"].payload
    assert tenc[8:24] == content.kid
    pssh = parse_pssh(boxes["moov/pssh"].to_bytes())
    assert pssh.system_id == WIDEVINE
    assert content.kid in pssh.data
    assert uuid.UUID(bytes=content.kid)  # 16 bytes


def test_flac_24_192_decodes_bit_exact(small_store: ContentStore) -> None:
    import av
    import numpy as np

    content = small_store.tracks[small_store.catalog.tracks[0].id]
    data = small_store.resource(content.id, "FLAC_24_192.mp4")
    (key,) = small_store.keys(content.id).values()
    decoded: list[Any] = []
    with av.open(io.BytesIO(data), options={"decryption_key": key.hex()}) as container:
        c: Any = container
        stream = c.streams.audio[0]
        assert stream.codec_context.sample_rate == 192000
        for frame in c.decode(stream):
            assert frame.format.name == "s32"
            decoded.append(frame.to_ndarray())
    pcm = np.concatenate(decoded, axis=1)
    source, layout = small_store.source_pcm(content.id, "FLAC_24_192")
    assert layout == "s32"
    assert pcm.shape == source.shape
    assert np.array_equal(pcm, source)
    assert not np.any(pcm & 0xFF)  # 24-bit samples in the top bits
    # Music, not silence: plenty of distinct values and real signal level.
    assert np.abs(pcm >> 8).max() > 2**22
    assert len(np.unique(pcm[0, :192000])) > 10000


def test_channels_differ_and_audio_is_not_silent(small_store: ContentStore) -> None:
    import numpy as np

    content = small_store.tracks[small_store.catalog.tracks[1].id]
    source, layout = small_store.source_pcm(content.id, "FLAC_16_44")
    assert layout == "s16"
    stereo = source.reshape(-1, 2).astype(np.int64)
    left, right = stereo[:, 0], stereo[:, 1]
    assert np.abs(left).mean() > 1000
    assert np.abs(left - right).mean() > 1000  # a channel swap would show


def test_spoken_title_over_the_start_when_espeak_is_installed(
    small_store: ContentStore,
) -> None:
    import numpy as np

    from daemon.sandbox.media.encode import SourceAudio
    from daemon.sandbox.media.formats import FORMATS
    from daemon.sandbox.media.speech import espeak_version

    if espeak_version() is None:
        pytest.skip("espeak-ng is not installed: tracks are music only")
    track = small_store.catalog.tracks[1]
    with_voice, _ = small_store.source_pcm(track.id, "OPUS_48")
    music_only, _ = SourceAudio(track, speech=False).pcm(FORMATS["OPUS_48"])
    rate = 48000 * 2  # interleaved stereo samples per second
    assert not np.array_equal(with_voice[:, : 3 * rate], music_only[:, : 3 * rate])
    assert np.array_equal(with_voice[:, 10 * rate :], music_only[:, 10 * rate :])
