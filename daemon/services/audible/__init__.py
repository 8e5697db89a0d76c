"""Audible client (spec/audible.md): login, registration, signing, refresh, API calls.

Public entry points: `AudibleClient` (register/restore, library, catalog, metadata,
licences, positions, deregister), `sign_request`, `start_external_login` /
`extract_authorization_code`, `form_login`, `Endpoints` / `get_locale`,
`AudibleSession` (to_json/from_json) and `decrypt_voucher`.
"""

from __future__ import annotations

from .client import AudibleClient
from .form_login import form_login
from .locales import LOCALES, Endpoints, Locale, get_locale
from .login import (
    LoginResult,
    PendingLogin,
    extract_authorization_code,
    start_external_login,
)
from .models import LastPosition, LibraryPage, Licence
from .register import register_device
from .session import AudibleSession, SessionStore
from .signing import RequestSigner, sign_request
from .transport import AudibleBadRequest, AudibleNotFound
from .voucher import ContentKey, decrypt_voucher

__all__ = [
    "LOCALES",
    "AudibleBadRequest",
    "AudibleClient",
    "AudibleNotFound",
    "AudibleSession",
    "ContentKey",
    "Endpoints",
    "LastPosition",
    "LibraryPage",
    "Licence",
    "Locale",
    "LoginResult",
    "PendingLogin",
    "RequestSigner",
    "SessionStore",
    "decrypt_voucher",
    "extract_authorization_code",
    "form_login",
    "get_locale",
    "register_device",
    "sign_request",
    "start_external_login",
]
