"""The wire facts of the outside services that both the clients and the sandbox rely on.

Paths, headers, field names, enums and documented limits, tagged with their contract ids
(AM-Cnn, AU-Cnn), so a corrected fact changes one module (spec/amazon-music.md §0, "swap
rule"). What a client chooses lives beside the client in `daemon/services/`; what the
sandbox chooses lives in the sandbox.
"""
