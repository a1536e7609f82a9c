"""Link tokens and session cookies: signed, each kind its own, expiring by their own claim; the
portal key from its setting or, by HKDF, from the admin key."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import SecretStr

from api.portal.tokens import (
    ExpiredLink,
    LinkClaim,
    TamperedLink,
    Tokens,
    hkdf_sha256,
    signing_key,
)
from core.settings import AdminSettings, PortalSettings


def test_hkdf_matches_rfc_5869_test_case_1() -> None:
    ikm = bytes.fromhex("0b" * 22)
    salt = bytes.fromhex("000102030405060708090a0b0c")
    info = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
    okm = hkdf_sha256(ikm, salt, info, 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_the_key_is_the_setting_else_derived_from_the_admin_key_else_none() -> None:
    admin = AdminSettings(admin_key=SecretStr("edp_admin_x"))
    own = signing_key(PortalSettings(secret=SecretStr("portal-secret")), admin)
    assert own == b"portal-secret"
    derived = signing_key(PortalSettings(), admin)
    assert derived is not None and len(derived) == 32
    assert derived != b"edp_admin_x" and derived != hashlib.sha256(b"edp_admin_x").digest()
    assert signing_key(PortalSettings(), AdminSettings()) is None


def test_a_link_reads_back_until_it_expires() -> None:
    tokens = Tokens(b"k" * 32)
    token = tokens.link(LinkClaim("plk_1", "org_a", 1_000.0))
    assert tokens.read_link(token, 999.0) == LinkClaim("plk_1", "org_a", 1_000.0)
    with pytest.raises(ExpiredLink):
        tokens.read_link(token, 1_000.0)


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: t[: len(t) // 2],  # cut short when pasted
        lambda t: "",
        lambda t: t + "é",
        lambda t: "x" * 600,
    ],
)
def test_a_tampered_link_is_refused(change: object) -> None:
    tokens = Tokens(b"k" * 32)
    token = tokens.link(LinkClaim("plk_1", "org_a", 1_000.0))
    with pytest.raises(TamperedLink):
        tokens.read_link(change(token), 0.0)  # type: ignore[operator]


def test_another_orgs_claim_does_not_carry_a_signature_over() -> None:
    tokens = Tokens(b"k" * 32)
    signature = tokens.link(LinkClaim("plk_1", "org_a", 1_000.0)).rpartition(".")[2]
    other_payload = tokens.link(LinkClaim("plk_1", "org_b", 1_000.0)).rpartition(".")[0]
    with pytest.raises(TamperedLink):
        tokens.read_link(f"{other_payload}.{signature}", 0.0)
    with pytest.raises(TamperedLink):
        tokens.read_link(Tokens(b"other key").link(LinkClaim("plk_1", "org_a", 1_000.0)), 0.0)


def test_cookies_and_links_do_not_pass_for_each_other() -> None:
    tokens = Tokens(b"k" * 32)
    cookie = tokens.cookie("sid-1")
    assert tokens.read_cookie(cookie) == "sid-1"
    with pytest.raises(TamperedLink):
        tokens.read_link(cookie, 0.0)
    assert tokens.read_cookie(tokens.link(LinkClaim("plk_1", "org_a", 9e9))) is None
    assert tokens.read_cookie("garbage") is None
    assert Tokens(b"other key").read_cookie(cookie) is None
