"""The player: typed commands in, typed events out (commands.py, events.py); decoder, sinks,
volume and ABR are the engine's parts. Import submodules directly; nothing heavy loads here."""
