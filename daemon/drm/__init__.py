"""DRM: one small CDM interface, chosen by configuration, and the licence flow.

- `Cdm` (protocol, cdm.py): start/aclose, open, challenge(session, pssh, *,
  service_certificate), keys(session, licence) -> {KID: key}, close.
- `CdmSession(cdm)`: one session as an async context manager, closed also on cancellation.
- `create_cdm(config: DrmConfig, *, options: CdmOptions, clock, http) -> Cdm`: `none`,
  `clearkey`, `widevine` (pywidevine + .wvd), `remote` (`pywidevine serve`), or a
  `speakerd.cdm` entry-point plug-in (`factory(config, options) -> Cdm`).
- `LicenceFlow(cdm, *, privacy_mode, clock).acquire(post, *, mpd_pssh, init_segment,
  default_kids) -> ContentKeys`.
- Errors: DrmError / LicenseError (daemon.core.errors), `LicenseDenied` (`.reason`),
  `CdmNotConfigured`; `denial_from_response(status, body)` for the services client.

pywidevine is never imported by this package's import; only `WidevineCdm.start()` does.
"""

from daemon.drm.cdm import Cdm, CdmSession, ContentKeys
from daemon.drm.errors import CdmNotConfigured, LicenseDenied, denial_from_response
from daemon.drm.flow import SERVICE_CERTIFICATE_REQUEST, LicenceFlow, LicencePost, select_pssh
from daemon.drm.pssh import COMMON, PLAYREADY, WIDEVINE, Pssh, build_pssh, parse_pssh
from daemon.drm.registry import ENTRY_POINT_GROUP, CdmOptions, create_cdm, plugin_names

__all__ = [
    "COMMON",
    "ENTRY_POINT_GROUP",
    "PLAYREADY",
    "SERVICE_CERTIFICATE_REQUEST",
    "WIDEVINE",
    "Cdm",
    "CdmNotConfigured",
    "CdmOptions",
    "CdmSession",
    "ContentKeys",
    "LicenceFlow",
    "LicencePost",
    "LicenseDenied",
    "Pssh",
    "build_pssh",
    "create_cdm",
    "denial_from_response",
    "parse_pssh",
    "plugin_names",
    "select_pssh",
]
