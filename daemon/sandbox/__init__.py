"""The local emulator of every outside service speakerd talks to (DESIGN.md §4).

Public API: `SandboxConfig` (daemon.sandbox.config), `Sandbox` (daemon.sandbox.server),
and the `sandbox` CLI subcommand (daemon.sandbox.cli). Subpackages: media/ (content),
licence/ (Widevine and ClearKey minting), amazon/ (Login With Amazon and the Music
Device API), audible/ (Audible emulation).
"""
