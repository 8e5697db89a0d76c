"""Player command/event API: validation, round trips, bounded subscriptions."""

from __future__ import annotations

import asyncio
import json

import pytest

from daemon.core.errors import PlaybackError
from daemon.playback import commands as c
from daemon.playback import events as e


def test_every_command_round_trips_through_its_dict() -> None:
    samples: list[c.Command] = [
        c.Play(c.PlayKind.ALBUM, "B01", start_index=3, position_ms=1500),
        c.Pause(), c.Resume(), c.Stop(), c.Next(), c.Previous(),
        c.Seek(42_000), c.SetVolume(0), c.SetVolume(100),
        c.QueueAdd(c.PlayKind.TRACK, "T1"), c.QueueAdd(c.PlayKind.PLAYLIST, "P1", index=2),
        c.QueueRemove("q-1"), c.QueueMove("q-1", 0), c.QueueClear(),
        c.SetRepeat(c.RepeatMode.ONE), c.SetShuffle(True),
    ]
    assert {type(s) for s in samples} == set(c.COMMAND_TYPES.values())
    for cmd in samples:
        msg = json.loads(json.dumps(cmd.to_dict()))
        assert c.parse_command(msg["type"], msg["data"]) == cmd


@pytest.mark.parametrize(
    ("type_", "data", "reason"),
    [
        ("fly", {}, c.RejectReason.UNKNOWN_COMMAND),
        ("seek", {}, c.RejectReason.INVALID_ARGUMENT),
        ("seek", {"position_ms": -1}, c.RejectReason.INVALID_ARGUMENT),
        ("seek", {"position_ms": True}, c.RejectReason.INVALID_ARGUMENT),
        ("set_volume", {"level": 101}, c.RejectReason.INVALID_ARGUMENT),
        ("set_volume", {"level": 50.5}, c.RejectReason.INVALID_ARGUMENT),
        ("play", {"kind": "podcast", "service_id": "x"}, c.RejectReason.INVALID_ARGUMENT),
        ("play", {"kind": "track", "service_id": ""}, c.RejectReason.INVALID_ARGUMENT),
        ("play", {"kind": "track", "service_id": "x", "extra": 1}, c.RejectReason.INVALID_ARGUMENT),
        ("set_repeat", {"mode": "sometimes"}, c.RejectReason.INVALID_ARGUMENT),
        ("set_shuffle", {"enabled": "yes"}, c.RejectReason.INVALID_ARGUMENT),
    ],
)
def test_bad_commands_are_rejected_with_a_reason(type_: str, data: dict[str, object],
                                                  reason: c.RejectReason) -> None:
    with pytest.raises(c.CommandRejected) as info:
        c.parse_command(type_, data)
    assert info.value.reason is reason
    assert isinstance(info.value, PlaybackError)
    assert info.value.fields["reason"] == reason.value


def test_events_serialise_to_type_and_data() -> None:
    track = e.TrackInfo("T1", "Song", artist="A", album="B", image_url="https://i/x.jpg",
                        duration_ms=1000, quality=e.AudioQuality.HD,
                        format=e.AudioFormat("flac", 44100, 16, 2))
    cases: list[tuple[e.Event, str]] = [
        (e.StateChanged(e.PlayerState.PLAYING), "state"),
        (e.TrackChanged(track), "track"),
        (e.Position(10, 1000), "position"),
        (e.VolumeChanged(30), "volume"),
        (e.Buffering(2.5), "buffering"),
        (e.Underrun(1), "underrun"),
        (e.QueueChanged((e.QueueItem("q1", "T1"),), 0, "off", False), "queue"),
        (e.PlayerError("sink", "device busy"), "error"),
        (e.EventsDropped(3), "resync"),
    ]
    assert {type(ev) for ev, _ in cases} == set(e.EVENT_TYPES)
    for ev, type_ in cases:
        msg = json.loads(json.dumps(ev.to_dict()))
        assert msg["type"] == type_
        assert isinstance(msg["data"], dict)
    assert e.TrackChanged(track).to_dict()["data"]["track"]["badge"] == "HD"
    assert e.badge_for(e.AudioQuality.SD) is None
    assert e.badge_for(e.AudioQuality.UHD) == "Ultra HD"


async def test_subscription_drops_oldest_and_reports_it() -> None:
    hub = e.EventHub()
    sub = hub.subscribe(maxsize=3)
    for i in range(5):
        hub.publish(e.Position(i, None))
    got = [sub.get_nowait() for _ in range(4)]
    assert got == [e.EventsDropped(2), e.Position(2, None), e.Position(3, None),
                   e.Position(4, None)]
    assert sub.get_nowait() is None


async def test_subscription_iterates_until_closed() -> None:
    hub = e.EventHub()
    received: list[e.Event] = []

    async def consume() -> None:
        async with hub.subscribe() as sub:
            async for ev in sub:
                received.append(ev)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    assert hub.subscriber_count == 1
    hub.publish(e.VolumeChanged(10))
    await asyncio.sleep(0)
    hub.close()
    await asyncio.wait_for(task, 5)
    assert received == [e.VolumeChanged(10)]
    assert hub.subscriber_count == 0


def test_empty_snapshot_is_json() -> None:
    snap = c.empty_snapshot(volume=20)
    assert json.loads(json.dumps(snap))["volume"] == 20
    assert snap["state"] == e.PlayerState.IDLE.value
