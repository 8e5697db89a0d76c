"""Errors of the sandbox's content generator."""

from __future__ import annotations

from daemon.core.errors import MediaError


class ContentError(MediaError):
    """Content cannot be generated, found or served (unknown track, resource or format)."""

    code = "sandbox_content"


class NoRepresentationsError(ContentError):
    """An MPD was asked for a set of formats the track does not have at all."""

    code = "sandbox_no_representations"


class ContentNotFoundError(ContentError):
    """No such track, format or resource (the server answers 404)."""

    code = "sandbox_not_found"


class CacheUnusableError(ContentError):
    """The content cache's file system is full, read-only or not ours: a restart cannot fix
    it, so the start ends with 78 (systemd's unit does not restart on 78)."""

    code = "sandbox_cache_unusable"
    exit_code = 78
