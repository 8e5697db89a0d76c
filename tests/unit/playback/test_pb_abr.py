"""ABR on synthetic throughput series: estimator behaviour and ladder decisions."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from daemon.playback.abr import OPUS_LADDER, AbrController, Rung, ThroughputEstimator

SEG_S = 2.0  # each step below is one 2 s segment


def feed(est: ThroughputEstimator, bps: float, n: int, nbytes: int = 100_000) -> None:
    for _ in range(n):
        est.add(nbytes, nbytes * 8 / bps)


def test_estimator_converges_and_believes_drops_fast_rises_slowly() -> None:
    est = ThroughputEstimator()
    assert est.estimate_bps() is None
    feed(est, 1_000_000, 1)
    assert est.estimate_bps() is None  # one sample is not enough
    feed(est, 1_000_000, 10)
    assert est.estimate_bps() == pytest.approx(1_000_000, rel=1e-6)
    feed(est, 200_000, 2)  # drop: the fast average follows within two samples
    dropped = est.estimate_bps()
    assert dropped is not None
    assert dropped < 450_000
    est2 = ThroughputEstimator()
    feed(est2, 200_000, 10)
    feed(est2, 5_000_000, 1)  # one fast download does not make the network fast
    risen = est2.estimate_bps()
    assert risen is not None
    assert risen < 1_000_000


def test_estimator_ignores_tiny_downloads() -> None:
    est = ThroughputEstimator()
    feed(est, 1_000_000, 5)
    est.add(500, 0.5)  # 8 kb/s: a latency measurement
    assert est.estimate_bps() == pytest.approx(1_000_000, rel=1e-6)


def run(ctrl: AbrController, series: Sequence[tuple[float, float]]) -> list[str]:
    """Feed (throughput, buffer) per segment; return the rung chosen after each."""
    est = ThroughputEstimator()
    chosen = []
    now = 0.0
    for bps, buffer_s in series:
        bytes_ = int(ctrl.rung.bandwidth_bps * SEG_S / 8)
        est.add(max(bytes_, 16_000), max(bytes_, 16_000) * 8 / bps)
        ctrl.decide(now=now, estimate_bps=est.estimate_bps(), buffer_s=buffer_s)
        chosen.append(ctrl.rung.rep_id)
        now += SEG_S
    return chosen


def test_opus_ladder_steps_down_when_the_network_cannot_sustain_it() -> None:
    ctrl = AbrController(OPUS_LADDER)
    assert ctrl.rung.rep_id == "OPUS_320"
    chosen = run(ctrl, [(2_000_000, 20)] * 3 + [(150_000, 20)] * 4)
    assert chosen[:3] == ["OPUS_320"] * 3
    assert chosen[-1] == "OPUS_48"  # 0.8 * 150 kb/s fits only the 48 kb/s rung
    ctrl2 = AbrController(OPUS_LADDER)
    chosen2 = run(ctrl2, [(2_000_000, 20)] * 3 + [(300_000, 20)] * 6)
    assert chosen2[-1] == "OPUS_192"


def test_opus_ladder_climbs_back_with_hysteresis_one_step_at_a_time() -> None:
    ctrl = AbrController(OPUS_LADDER, start=0)
    chosen = run(ctrl, [(2_000_000, 20)] * 20)
    first_up = chosen.index("OPUS_192")
    first_top = chosen.index("OPUS_320")
    assert first_top > first_up  # one step at a time
    # Held for up_hold_s (10 s = 5 segments) between climbs.
    assert (first_top - first_up) * SEG_S >= ctrl.config.up_hold_s


def test_no_flapping_around_a_rung_boundary() -> None:
    ctrl = AbrController(OPUS_LADDER, start=1)
    # 300-330 kb/s: usable 240-264 sustains 192 but not 320 with the 25 % margin.
    series = [(300_000 + (i % 2) * 30_000, 20.0) for i in range(30)]
    chosen = run(ctrl, series)
    assert set(chosen) == {"OPUS_192"}
    assert ctrl.switches == 0


def test_no_climb_on_a_thin_buffer() -> None:
    ctrl = AbrController(OPUS_LADDER, start=0)
    chosen = run(ctrl, [(5_000_000, 3.0)] * 15)
    assert set(chosen) == {"OPUS_48"}


LOSSLESS = [*OPUS_LADDER, Rung("FLAC_16_44", 1_000_000, True), Rung("FLAC_24_96", 3_400_000, True)]


def test_lossless_is_kept_while_the_buffer_is_healthy() -> None:
    ctrl = AbrController.for_rep(LOSSLESS, "FLAC_24_96")
    chosen = run(ctrl, [(2_000_000, 25.0)] * 10)  # slower than the rung, but buffered
    assert set(chosen) == {"FLAC_24_96"}


def test_lossless_steps_down_only_when_about_to_run_dry_and_climbs_back() -> None:
    ctrl = AbrController.for_rep(LOSSLESS, "FLAC_24_96")
    series = [(2_000_000, 12.0), (2_000_000, 6.0), (2_000_000, 3.5), (2_000_000, 3.0)]
    chosen = run(ctrl, series)
    assert chosen[:2] == ["FLAC_24_96", "FLAC_24_96"]
    assert chosen[2] == "FLAC_16_44"  # one step, not straight to lossy
    assert chosen[3] == "FLAC_16_44"  # 0.8 * 2 Mb/s sustains 16/44.1
    # The network recovers and the buffer refills: back to the preferred rung, not beyond.
    recovered = run(ctrl, [(10_000_000, 20.0)] * 12)
    assert recovered[-1] == "FLAC_24_96"
    assert ctrl.current == ctrl.preferred


def test_no_decision_without_an_estimate() -> None:
    ctrl = AbrController(OPUS_LADDER)
    d = ctrl.decide(now=0.0, estimate_bps=None, buffer_s=0.0)
    assert not d.changed
    assert d.rung.rep_id == "OPUS_320"
    with pytest.raises(ValueError, match="not in the ladder"):
        AbrController.for_rep(OPUS_LADDER, "FLAC")
