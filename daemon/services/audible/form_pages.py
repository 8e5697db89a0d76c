"""What the sign-in pages show, read from their HTML (§3.3 ids, classes, field names).

`SignInPage` collects forms (attributes + inputs), the CAPTCHA image, error-box text,
the MFA device options, and whether the page is a CVF or approval-alert step. It keys on
the documented markers only; anything else on the page is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from daemon.contracts import audible as c

_VOID = frozenset({"input", "img", "br", "hr", "meta", "link"})
_ERROR_BOXES = ("auth-error-message-box", "auth-warning-message-box", "ap_error_page_message")

Form = tuple[dict[str, str], list[dict[str, str]]]


@dataclass
class DeviceOption:
    """One MFA device of the choice page (class `auth-TOTP`/`auth-SMS`/`auth-VOICE`)."""

    kind: str
    value: str = ""
    label: str = ""


@dataclass
class _Depth:
    open: int = 0


class SignInPage(HTMLParser):
    """Parse with `feed`; then read the attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.captcha: str | None = None
        self.errors: list[str] = []
        self.ids: set[str] = set()
        self.classes: set[str] = set()
        self.devices: list[DeviceOption] = []
        self._error = _Depth()
        self._device = _Depth()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("id"):
            self.ids.add(a["id"])
        self.classes.update(a.get("class", "").split())
        if tag == "form":
            self.forms.append((a, []))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1][1].append(a)
            if a["name"] == c.DEVICE_OPTION_INPUT and self._device.open and self.devices:
                self.devices[-1].value = a.get("value", "")
        elif tag == "img" and "CAPTCHA" in a.get("alt", ""):
            self.captcha = a.get("src", "")
        if tag in _VOID:
            return
        if tag == "div" and a.get("data-a-input-name") == c.DEVICE_OPTION_INPUT:
            kind = next((k for k in a.get("class", "").split() if k.startswith("auth-")), "")
            self.devices.append(DeviceOption(kind))
            self._device.open = 1
        elif self._device.open:
            self._device.open += 1
        if a.get("id") in _ERROR_BOXES or self._error.open:
            self._error.open += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if self._error.open:
            self._error.open -= 1
        if self._device.open:
            self._device.open -= 1

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not text:
            return
        if self._error.open:
            self.errors.append(text)
        if self._device.open and self.devices:
            label = self.devices[-1].label
            self.devices[-1].label = f"{label} {text}".strip()

    # -- what the page asks for ------------------------------------------------------------

    def form(self, *, name: str | None = None, id_part: tuple[str, ...] = ()) -> Form | None:
        for attrs, inputs in self.forms:
            if name is not None and attrs.get("name") == name:
                return attrs, inputs
            if id_part and any(p in attrs.get("id", "") for p in id_part):
                return attrs, inputs
        return None

    @property
    def is_cvf(self) -> bool:
        return c.CVF_CONTAINER_ID in self.ids

    @property
    def is_approval(self) -> bool:
        return bool(self.ids & set(c.APPROVAL_FORM_IDS)) and (
            c.APPROVAL_WAIT_CLASS in self.classes
        )


def hidden_fields(inputs: list[dict[str, str]]) -> dict[str, str]:
    return {i["name"]: i.get("value", "") for i in inputs if i.get("type") == "hidden"}
