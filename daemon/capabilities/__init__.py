"""Hardware profiles + decoders present + configuration -> the capability tokens to request.

Contract: `load_board`/`load_output` (profiles) read and validate
`hardware/{boards,outputs}/<name>.yaml` through the config's schema loader (a `ConfigError`
names the file, line and dotted key). `derive_capabilities` (derive) grants a token only
when the output can play it, a PyAV decoder exists for it (decoders, probed lazily) and the
config allows it, and records why for every token. `probe_alsa_caps` (alsa) reads a real
card's formats with `aplay --dump-hw-params`; report holds the `speakerd probe` helpers.
"""

from __future__ import annotations

from daemon.capabilities.alsa import parse_hw_params, probe_alsa_caps
from daemon.capabilities.decoders import DECODERS, available_decoders, pyav_decoder_names
from daemon.capabilities.derive import STANDARD_RATES, Derivation, Step, derive_capabilities
from daemon.capabilities.profiles import (
    BoardProfile,
    MixerInfo,
    OutputProfile,
    hardware_dir,
    list_profiles,
    load_board,
    load_output,
)
from daemon.capabilities.report import (
    add_capabilities_args,
    derivation_from_args,
    print_derivation,
)

__all__ = [
    "DECODERS",
    "STANDARD_RATES",
    "BoardProfile",
    "Derivation",
    "MixerInfo",
    "OutputProfile",
    "Step",
    "add_capabilities_args",
    "available_decoders",
    "derivation_from_args",
    "derive_capabilities",
    "hardware_dir",
    "list_profiles",
    "load_board",
    "load_output",
    "parse_hw_params",
    "print_derivation",
    "probe_alsa_caps",
    "pyav_decoder_names",
]
