"""speakerd: a device daemon for Raspberry-Pi-class speakers.

This package's top level stays stdlib-only so `python3 -m daemon.devenv` can bootstrap a
fresh machine before any dependency is installed.
"""

__version__ = "0.1.0"
