"""mkb79/Audible (the independent peer) pointed at the sandbox on loopback.

mkb79 talks to the real host names over HTTPS through httpx; a transport here sends
each request to the sandbox's port instead, keeping the `Host` header, so the sandbox
sees the host it would on the internet. Its module-level `httpx.post/get` (register,
refresh, activation bytes) go through the same transport while `routed` is active.
mkb79 is synchronous: call it through `asyncio.to_thread` (the sandbox runs on the loop).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx


class ToSandbox(httpx.HTTPTransport):
    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return super().handle_request(request)


@contextlib.contextmanager
def routed(port: int) -> Iterator[httpx.Client]:
    """httpx's module-level helpers, and the yielded client, all reach the sandbox."""
    client = httpx.Client(transport=ToSandbox(port), follow_redirects=False)
    saved = {name: getattr(httpx, name) for name in ("get", "post", "put", "Client")}
    real_client = saved["Client"]

    class RoutedClient(real_client):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("transport", ToSandbox(port))
            super().__init__(*args, **kwargs)

    def bind(method: str) -> Any:
        def call(url: Any, **kwargs: Any) -> httpx.Response:
            kwargs.pop("follow_redirects", None)
            return client.request(method, url, **kwargs)

        return call

    for name in ("get", "post", "put"):
        setattr(httpx, name, bind(name.upper()))
    httpx.Client = RoutedClient  # type: ignore[misc]
    try:
        yield client
    finally:
        for name, fn in saved.items():
            setattr(httpx, name, fn)
        client.close()


def mkb79_register(port: int, locale: str = "us", with_username: bool = False) -> Any:
    """A device registered by mkb79's own login+register code (the scripted phone answers
    the browser step)."""
    import audible

    with routed(port) as client:

        def browser(url: str) -> str:
            r = client.post(
                "http://sandbox/_sandbox/audible/login/approve", json={"signin_url": url}
            )
            r.raise_for_status()
            host = "www.audible" if with_username else "www.amazon"
            return f"https://{host}.com" + str(r.json()["maplanding_url"])

        return audible.Authenticator.from_login_external(
            locale, with_username=with_username, login_url_callback=browser
        )


def mkb79_activation_bytes(port: int, auth: Any) -> str:
    with routed(port):
        return str(auth.get_activation_bytes(force_refresh=True))


def mkb79_library_asins(port: int, auth: Any) -> set[str]:
    import audible

    with routed(port), audible.Client(auth=auth, transport=ToSandbox(port)) as client:
        body = client.get("library")
    return {item["asin"] for item in body["items"]}
