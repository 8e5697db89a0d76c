"""The sandbox's Amazon services: Login With Amazon and the Music Device API.

`LwaService` and `MusicService` are mounted by `daemon.sandbox.server`; `choices` keeps
the sandbox's own answers where the Amazon contract leaves the server free.
"""
