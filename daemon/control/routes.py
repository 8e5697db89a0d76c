"""The route table of /api/v1: the handlers, the OpenAPI document and the auth rules all
read it, so they cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # relative to the API path
    name: str  # handler method name on Api; also the OpenAPI operationId
    summary: str
    public: bool = False
    body: str | None = None  # name of a request schema in openapi.SCHEMAS
    query: tuple[str, ...] = ()


ROUTES: tuple[Route, ...] = (
    Route("GET", "/info", "info", "Device info (public, minimal)", public=True),
    Route("GET", "/health", "health", "Liveness of the daemon's parts", public=True),
    Route("POST", "/pair/start", "pair_start", "Pairing step 1 (SPAKE2)", public=True,
          body="PairStart"),
    Route("POST", "/pair/finish", "pair_finish", "Pairing step 2 (proof, token)", public=True,
          body="PairFinish"),
    Route("GET", "/openapi.json", "openapi", "This document"),
    Route("GET", "/status", "status", "Player status, track, position, volume, buffer",
          query=("image_size",)),
    Route("POST", "/player/play", "play", "Play by service id", body="Play"),
    Route("POST", "/player/pause", "pause", "Pause"),
    Route("POST", "/player/resume", "resume", "Resume"),
    Route("POST", "/player/stop", "stop", "Stop"),
    Route("POST", "/player/next", "next", "Next track"),
    Route("POST", "/player/previous", "previous", "Previous track"),
    Route("POST", "/player/seek", "seek", "Seek", body="Seek"),
    Route("POST", "/player/volume", "volume", "Set volume 0-100", body="Volume"),
    Route("POST", "/player/repeat", "repeat", "Repeat mode", body="Repeat"),
    Route("POST", "/player/shuffle", "shuffle", "Shuffle on/off", body="Shuffle"),
    Route("GET", "/queue", "queue", "The play queue", query=("image_size",)),
    Route("POST", "/queue", "queue_add", "Add to the queue", body="QueueAdd"),
    Route("DELETE", "/queue", "queue_clear", "Clear the queue after the current track"),
    Route("DELETE", "/queue/{item_id}", "queue_remove", "Remove a queue entry"),
    Route("POST", "/queue/{item_id}/move", "queue_move", "Move a queue entry",
          body="QueueMove"),
    Route("GET", "/browse", "browse", "Browse the catalog", query=("uri", "image_size")),
    Route("GET", "/search", "search", "Search the catalog", query=("q", "kinds", "image_size")),
    Route("GET", "/signin", "signin_state", "Sign-in state of the services"),
    Route("POST", "/signin/amazon", "signin_amazon", "Start Amazon code-based linking"),
    Route("POST", "/signin/audible", "signin_audible", "Start the Audible external login"),
    Route("POST", "/signin/audible/code", "signin_audible_code",
          "Submit the Audible login result", body="AudibleCode"),
    # The Audible sign-in with every step asked over the API (control/audible_signin.py).
    Route("GET", "/signin/audible/form", "signin_audible_form_state",
          "The current step of the Audible form sign-in"),
    Route("POST", "/signin/audible/form", "signin_audible_form",
          "Start the Audible form sign-in", body="AudibleForm"),
    Route("POST", "/signin/audible/form/answer", "signin_audible_form_answer",
          "Answer the current Audible sign-in step", body="AudibleAnswer"),
    # Audible wishlist and catalog search (control/audible_wishlist.py).
    Route("GET", "/audible/wishlist", "audible_wishlist", "The Audible wishlist"),
    Route("POST", "/audible/wishlist", "audible_wishlist_add", "Add to the Audible wishlist",
          body="AudibleAsin"),
    Route("DELETE", "/audible/wishlist/{asin}", "audible_wishlist_remove",
          "Remove from the Audible wishlist"),
    Route("GET", "/audible/search", "audible_search", "Search the Audible catalog",
          query=("q",)),
    Route("GET", "/settings", "settings_get", "Device settings"),
    Route("PATCH", "/settings", "settings_patch", "Change device settings", body="Settings"),
    Route("GET", "/pairings", "pairings", "Paired phones"),
    Route("POST", "/pairings/window", "pairing_window", "Open a pairing window (multi-admin)"),
    Route("PATCH", "/pairings/{phone_id}", "pairing_rename", "Rename a phone",
          body="PhoneName"),
    Route("DELETE", "/pairings/{phone_id}", "pairing_revoke", "Revoke a phone"),
    Route("GET", "/metrics", "metrics", "Prometheus metrics"),
)
