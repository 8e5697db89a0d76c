"""Cover-art placeholders are filled in every answer; the size parameter is checked."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from daemon.control.apierror import ApiError
from daemon.control.artwork import DEFAULT_SIDE, fill_images, image_side


def test_every_image_url_is_filled_and_nothing_else_changes() -> None:
    answer: dict[str, Any] = {
        "track": {"image_url": "https://img.example/I/abc._*_.jpg", "title": "._*_."},
        "items": [{"image_url": "https://img.example/I/d._*_.png"},
                  {"image_url": None}, {"image_url": "https://img.example/x.jpg"}]}
    filled = fill_images(answer, 320)
    assert filled["track"]["image_url"] == "https://img.example/I/abc._SL320_.jpg"
    assert filled["track"]["title"] == "._*_."
    assert [i["image_url"] for i in filled["items"]] == [
        "https://img.example/I/d._SL320_.png", None, "https://img.example/x.jpg"]
    assert "*" in answer["track"]["image_url"]  # a copy; the player's snapshot is untouched


@pytest.mark.parametrize(("query", "side"), [("", DEFAULT_SIDE), ("?image_size=30", 30),
                                             ("?image_size=1200", 1200)])
def test_the_size_parameter(query: str, side: int) -> None:
    assert image_side(make_mocked_request("GET", f"/api/v1/status{query}")) == side


@pytest.mark.parametrize("bad", ["0", "29", "1201", "abc", "-5", "3.5"])
def test_a_bad_size_names_the_parameter(bad: str) -> None:
    with pytest.raises(ApiError, match="image_size"):
        image_side(make_mocked_request("GET", f"/api/v1/status?image_size={bad}"))
