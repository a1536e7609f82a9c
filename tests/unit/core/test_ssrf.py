"""SSRF guard: refused address classes, the allowlist, URL checks, a stub resolver."""

from __future__ import annotations

import pytest

from core.errors import DestinationRefused, InvalidInput
from core.ssrf import Guard

REFUSED = [
    "127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1", "239.1.1.1", "240.0.0.1",
    "255.255.255.255", "192.0.2.1", "198.18.0.1", "::1", "::", "fe80::1", "fc00::1", "fd12::1",
    "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1",
    "64:ff9b::a00:1", "2001:db8::1",
]  # fmt: skip
ALLOWED = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "100.128.0.1"]

DNS = {
    "example.com": ["93.184.216.34", "2606:2800:220:1::1"],
    "localhost": ["127.0.0.1", "::1"],
    "rebind.test": ["93.184.216.34", "10.0.0.7"],  # one bad address is enough to refuse
    "empty.test": [],
}


def resolve(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise OSError("name does not resolve")
    return DNS[host]


@pytest.mark.parametrize("ip", REFUSED)
def test_refused_addresses(ip: str) -> None:
    with pytest.raises(DestinationRefused) as info:
        Guard().check_address(ip)
    assert info.value.field == "url"


@pytest.mark.parametrize("ip", ALLOWED)
def test_public_addresses(ip: str) -> None:
    Guard().check_address(ip)


def test_allowlist() -> None:
    guard = Guard(["127.0.0.0/8", "::1/128", "10.1.0.0/16"])
    for ip in ("127.0.0.1", "::1", "10.1.2.3", "::ffff:127.0.0.1"):
        guard.check_address(ip)
    for ip in ("10.2.0.1", "192.168.0.1", "169.254.169.254"):
        with pytest.raises(DestinationRefused):
            guard.check_address(ip)
    with pytest.raises(InvalidInput):
        Guard(["not-a-cidr"])


@pytest.mark.parametrize("bad", ["", "example.com", "1.2.3", "fe80::1%eth0", "127.0.0.1 "])
def test_not_an_address(bad: str) -> None:
    with pytest.raises(DestinationRefused):
        Guard().check_address(bad)


@pytest.mark.parametrize(
    "url",
    ["https://example.com/hook", "http://example.com:8080/x?y=1", "HTTPS://EXAMPLE.com", "http://93.184.216.34/",
     "http://[2606:4700:4700::1111]:443/"],
)  # fmt: skip
def test_good_urls(url: str) -> None:
    Guard().check_url(url, resolve)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/", "file:///etc/passwd", "gopher://example.com", "example.com/hook", "https://",
        "https://user:pw@example.com/", "https://user@example.com/", "https://example.com:0/",
        "https://example.com:65536/", "https://example.com:99999/", "https://example.com:x/",
        "http://localhost:8080/", "http://rebind.test/", "http://empty.test/", "http://unknown.test/",
        "http://127.0.0.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest",
        "https://example.com/a b", "https://example.com/\n", "https://" + "a" * 3000 + ".com/", "http://[::1/",
    ],
)  # fmt: skip
def test_bad_urls(url: str) -> None:
    with pytest.raises(DestinationRefused):
        Guard().check_url(url, resolve)


def test_allowlisted_loopback_url_for_the_local_profile() -> None:
    guard = Guard(["127.0.0.0/8", "::1/128"])
    guard.check_url("http://localhost:8080/wh", resolve)
    guard.check_url("http://127.0.0.1:8081/wh", resolve)
    with pytest.raises(DestinationRefused):
        guard.check_url("http://rebind.test/", resolve)


def test_resolver_gets_the_default_port() -> None:
    seen: list[tuple[str, int]] = []

    def record(host: str, port: int) -> list[str]:
        seen.append((host, port))
        return ["93.184.216.34"]

    Guard().check_url("https://example.com/", record)
    Guard().check_url("http://example.com/", record)
    Guard().check_url("http://example.com:8443/", record)
    assert seen == [("example.com", 443), ("example.com", 80), ("example.com", 8443)]
