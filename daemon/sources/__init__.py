"""The services' implementations of the player's `Source` protocol.

The protocol and the neutral types it speaks (queue entries, track info, playback events
and reasons, licence denials) are defined once, on the player's side, in
`daemon.playback.source`; each module here implements it for one service and maps the
neutral vocabulary to that service's wire enums. `playback/` never imports this package.

- `amazon`: Amazon Music Device API (`AmazonPlayback`).
"""
