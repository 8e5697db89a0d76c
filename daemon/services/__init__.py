"""Cloud clients (the I/O edge): one HTTP layer, Login With Amazon, the Amazon Music API.

`http.py` is the only module that sees aiohttp exceptions; everything above it speaks the
`daemon.core.errors.ServiceError` family.
"""
