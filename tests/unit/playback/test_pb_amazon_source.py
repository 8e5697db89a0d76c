"""The Amazon source maps the player's neutral events, reasons and licence denials to and
from AM-C27 / AM-C24's wire values, one to one."""

from __future__ import annotations

import pytest

from daemon.contracts import amazon_music as am
from daemon.drm.errors import LicenseDenied
from daemon.playback.source import DenialReason, PlaybackEvent, StopReason
from daemon.sources.amazon import _denied, wire_event, wire_reason


def test_every_neutral_event_has_its_own_wire_name() -> None:
    wire = {event: wire_event(event) for event in PlaybackEvent}
    assert len(set(wire.values())) == len(am.EventType)
    assert all(value.value == f"PLAYBACK_{event.name}" for event, value in wire.items())


def test_every_reason_maps_to_the_wire_reason_of_its_name() -> None:
    assert wire_reason(None) is None
    assert {wire_reason(r) for r in StopReason} == set(am.EventReason)
    assert all(wire_reason(r) == am.EventReason[r.name] for r in StopReason)


@pytest.mark.parametrize(("wire", "denial"), [
    ("CONCURRENCY_LIMIT", DenialReason.CONCURRENCY),
    ("NOT_ENTITLED", DenialReason.NOT_ENTITLED),
    ("VMP_VALIDATION_FAILED", DenialReason.OTHER),
    ("something new", DenialReason.OTHER),
])
def test_a_licence_denial_carries_the_players_reason(wire: str, denial: DenialReason) -> None:
    error = _denied(LicenseDenied("licence denied by the service", reason=wire, status=403))
    assert error.denial == denial
    assert error.code == "license_denied"
    assert error.fields["status"] == 403
