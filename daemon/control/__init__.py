"""The LAN control API: HTTPS REST + one event WebSocket, SPAKE2 pairing, per-phone tokens,
Host/Origin/limits middleware. Entry points: `ControlServer`, `ControlLimits`; the phone
side is `client.pair` / `client.RemoteClient` and `remote_cli` for `speakerd remote`."""
