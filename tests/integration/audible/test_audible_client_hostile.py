"""The Audible client against a server that answers badly: typed errors, nothing saved."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from audible_sandbox_helpers import OffsetClock
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from daemon.core.errors import AuthError, LicenseError, ProtocolError, ServiceError, TransportError
from daemon.services.audible import AudibleClient, AudibleSession, Endpoints, policy
from daemon.services.http import HttpClient

Answer = Callable[[web.Request], web.StreamResponse]


def make_session(expires: float) -> AudibleSession:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return AudibleSession.from_json(
        {
            "device_serial": "S1",
            "device_info": {"device_type": policy.DEVICE_TYPE, "device_name": "x"},
            "customer_info": {"user_id": "amzn1.account.Q", "name": "Q"},
            "adp_token": "{enc:a}{key:b}{iv:c}{name:d}{serial:Mg==}",
            "device_private_key": pem,
            "refresh_token": "Atnr|old",
            "access_token": "Atna|old",
            "expires": expires,
            "locale_code": "us",
        }
    )


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.saves = 0

    def save(self, name: str, value: dict[str, Any]) -> None:
        self.saves += 1
        self.data[name] = json.loads(json.dumps(value))

    def load(self, name: str) -> dict[str, Any] | None:
        return self.data.get(name)


@pytest.fixture
async def hostile() -> AsyncIterator[tuple[TestServer, dict[str, Answer]]]:
    answers: dict[str, Answer] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        return answers[request.path](request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield server, answers
    finally:
        await server.close()


def client_for(
    server: TestServer,
    http: HttpClient,
    clock: OffsetClock,
    store: MemoryStore | None = None,
    expires: float = 0.0,
) -> AudibleClient:
    return AudibleClient(
        make_session(expires),
        http=http,
        clock=clock,
        endpoints=Endpoints.sandbox(str(server.make_url("")).rstrip("/")),
        store=store,
    )


def text(body: str, status: int = 200, ctype: str = "application/json") -> Answer:
    return lambda _r: web.Response(text=body, status=status, content_type=ctype)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (text('{"items": [{"asin": "B0A'), TransportError),  # truncated JSON
        (text("<html>Whoops</html>", ctype="text/html"), TransportError),  # HTML with 200
        (text("[1, 2]"), ProtocolError),  # JSON but not an object
        (text('{"items": 5}'), ProtocolError),  # wrong type
        (text('{"items": [{"title": "no asin"}]}'), ProtocolError),  # missing field
        (text('{"message": "Whoops! Looks like something went wrong."}', 500), TransportError),
        (text('{"message": "Rate exceeded"}', 429), ServiceError),
        (text('{"message": "Request could not be authenticated"}', 403), AuthError),
    ],
)
async def test_library_bad_answers(
    hostile: tuple[TestServer, dict[str, Answer]],
    http: HttpClient,
    client_clock: OffsetClock,
    answer: Answer,
    error: type[Exception],
) -> None:
    server, answers = hostile
    answers["/1.0/library"] = answer
    with pytest.raises(error):
        await client_for(server, http, client_clock).library_page()


@pytest.mark.parametrize(
    "licence",
    [
        {"content_license": "nope"},
        {"content_license": {"status_code": "Granted", "asin": "B0SPKRD001"}},
        {
            "content_license": {
                "status_code": "Granted",
                "asin": "B0SPKRD001",
                "drm_type": "Adrm",
                "acr": "CR!X",
                "content_metadata": {},
            }
        },
        {
            "content_license": {
                "status_code": "Granted",
                "asin": "B0SPKRD001",
                "drm_type": "Adrm",
                "acr": "CR!X",
                "license_response": 7,
                "content_metadata": {"content_url": {"offline_url": "u"}},
            }
        },
    ],
)
async def test_licence_bad_answers(
    hostile: tuple[TestServer, dict[str, Answer]],
    http: HttpClient,
    client_clock: OffsetClock,
    licence: dict[str, Any],
) -> None:
    server, answers = hostile
    answers["/1.0/content/B0SPKRD001/licenserequest"] = text(json.dumps(licence))
    with pytest.raises(ProtocolError):
        await client_for(server, http, client_clock).licence_request("B0SPKRD001")


async def test_above_threshold_403_is_a_licence_error(
    hostile: tuple[TestServer, dict[str, Answer]], http: HttpClient, client_clock: OffsetClock
) -> None:
    server, answers = hostile
    answers["/1.0/content/B0SPKRD001/licenserequest"] = text(
        '{"message": "Customer [X] is above threshold for content license grant count"}', 403
    )
    with pytest.raises(LicenseError, match="threshold"):
        await client_for(server, http, client_clock).licence_request("B0SPKRD001")


@pytest.mark.parametrize(
    "answer",
    [
        text('{"token_type": "bearer"}'),  # no access token at all
        text('{"access_token": "Atna|new", "expires_in": "soon"}'),
        text('{"access_token": "Atna|n'),  # truncated
        text("<html>sign in</html>", ctype="text/html"),
        text('{"error": "invalid_grant"}', 400),
        text('{"message": "Whoops"}', 503),
    ],
)
async def test_failed_refresh_never_overwrites_stored_credentials(
    hostile: tuple[TestServer, dict[str, Answer]],
    http: HttpClient,
    client_clock: OffsetClock,
    answer: Answer,
) -> None:
    server, answers = hostile
    answers["/auth/token"] = answer
    store = MemoryStore()
    client = client_for(server, http, client_clock, store)
    await client.save()
    before = json.dumps(store.data, sort_keys=True)
    with pytest.raises(ServiceError):
        await client.access_token()  # expired (expires=0): must refresh
    assert json.dumps(store.data, sort_keys=True) == before
    assert store.saves == 1
    assert client.session.access_token.reveal() == "Atna|old"


async def test_refresh_reads_actor_token_and_string_expiry(
    hostile: tuple[TestServer, dict[str, Answer]], http: HttpClient, client_clock: OffsetClock
) -> None:
    server, answers = hostile

    def token(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "actor_access_token": "Atna|actor",
                "access_token": "Atna|x",
                "actor_refresh_token": "Atnr|new",
                "expires_in": "1800",
            }
        )

    answers["/auth/token"] = token
    store = MemoryStore()
    client = client_for(server, http, client_clock, store)
    now = client_clock.time()
    assert (await client.access_token()).reveal() == "Atna|actor"
    assert client.session.refresh_token.reveal() == "Atnr|new"
    assert 1790 <= client.session.expires - now <= 1810
    saved = store.data[policy.SESSION_SECRET_NAME]
    assert saved["access_token"] == "Atna|actor"


async def test_positions_bad_answers(
    hostile: tuple[TestServer, dict[str, Answer]], http: HttpClient, client_clock: OffsetClock
) -> None:
    server, answers = hostile
    client = client_for(server, http, client_clock)
    for body in (
        '{"asin_last_position_heard_annots": {}}',
        '{"asin_last_position_heard_annots": [{"asin": "B0SPKRD001",'
        ' "last_position_heard": {"status": "Exists", "position_ms": "12"}}]}',
        '{"asin_last_position_heard_annots": [{"asin": "B0SPKRD001",'
        ' "last_position_heard": {"status": "Maybe"}}]}',
    ):
        answers["/1.0/annotations/lastpositions"] = text(body)
        with pytest.raises(ProtocolError):
            await client.last_positions(["B0SPKRD001"])
