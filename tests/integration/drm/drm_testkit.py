"""Shared constants and helpers of the DRM integration tests (a uniquely named module)."""

from __future__ import annotations

KID_A = bytes.fromhex("0123456789abcdef0123456789abcdef")
KEY_A = bytes.fromhex("00112233445566778899aabbccddeeff")
KID_B = bytes.fromhex("fedcba9876543210fedcba9876543210")
KEY_B = bytes.fromhex("ffeeddccbbaa99887766554433221100")
