"""The pure parts: proxy trust, origin policy, attempt limiter, TOTP guard (no server; virtual time)."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from nixfleet.app import Dashboard, build_app
from nixfleet.config import ConfigError, Settings
from nixfleet.security.net import OriginPolicy, ProxyTrust, RequestFacts, parse_ip, rate_key
from nixfleet.security.ratelimit import AttemptLimiter
from nixfleet.security.totp import TotpGuard
from tests.support import ManualClock


def _scope(peer: str, headers: dict[str, str], scheme: str = 'http') -> dict:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {'type': 'http', 'scheme': scheme, 'client': (peer, 1234), 'headers': raw}


@pytest.mark.parametrize(
    ('text', 'address'),
    [
        ('203.0.113.9', '203.0.113.9'),
        (' 203.0.113.9:8080 ', '203.0.113.9'),
        ('[2001:db8::1]:443', '2001:db8::1'),
        ('::ffff:192.0.2.7', '192.0.2.7'),
        ('fe80::1%eth0', 'fe80::1'),
        ('"198.51.100.2"', '198.51.100.2'),
        ('unknown', None),
        ('', None),
        ('1.2.3.4.5', None),
    ],
)
def test_addresses_are_parsed_leniently_and_safely(text: str, address: str | None) -> None:
    parsed = parse_ip(text)
    assert (str(parsed) if parsed is not None else None) == address


def test_ipv6_clients_are_counted_per_64() -> None:
    same_prefix = {rate_key(parse_ip('2001:db8:1:2:aaaa::1')), rate_key(parse_ip('2001:db8:1:2:bbbb::9'))}
    assert same_prefix == {'2001:db8:1:2::/64'}
    assert rate_key(parse_ip('2001:db8:1:3::1')) != rate_key(parse_ip('2001:db8:1:2::1'))
    assert rate_key(parse_ip('192.0.2.1')) == '192.0.2.1'
    assert rate_key(None) == 'unknown'


def test_an_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    facts = ProxyTrust(['10.0.0.0/8']).facts(
        _scope('203.0.113.5', {'X-Forwarded-For': '1.1.1.1', 'X-Forwarded-Proto': 'https', 'Host': 'dash:8000'})
    )
    assert (facts.client_text, facts.scheme, facts.host, facts.via_trusted_proxy) == (
        '203.0.113.5',
        'http',
        'dash:8000',
        False,
    )


@pytest.mark.parametrize(
    ('forwarded_for', 'client'),
    [
        ('198.51.100.7', '198.51.100.7'),
        ('6.6.6.6, 198.51.100.7', '198.51.100.7'),  # the client's own claim is left of the real hop
        ('198.51.100.7, 10.0.0.2', '198.51.100.7'),  # an inner proxy is skipped
        ('10.0.0.3, 10.0.0.2', '10.0.0.3'),  # every hop a proxy: the farthest one
        ('garbage, 198.51.100.7', '198.51.100.7'),
        ('198.51.100.7, garbage', '10.0.0.1'),  # unusable: the proxy itself is all we know
        ('', '10.0.0.1'),
    ],
)
def test_a_trusted_proxy_chain_is_walked_from_the_right(forwarded_for: str, client: str) -> None:
    headers = {'X-Forwarded-For': forwarded_for} if forwarded_for else {}
    facts = ProxyTrust(['10.0.0.0/8']).facts(_scope('10.0.0.1', headers))
    assert facts.client_text == client and facts.via_trusted_proxy


def test_a_trusted_proxy_sets_scheme_and_host() -> None:
    headers = {'X-Forwarded-Proto': 'http, https', 'X-Forwarded-Host': 'dash.example', 'Host': '10.0.0.1:8000'}
    facts = ProxyTrust(['10.0.0.1']).facts(_scope('10.0.0.1', headers))
    assert facts.https and facts.host == 'dash.example' and facts.own_origin == 'https://dash.example'
    odd = ProxyTrust(['10.0.0.1']).facts(_scope('10.0.0.1', {'X-Forwarded-Proto': 'gopher'}, scheme='https'))
    assert odd.https  # an unknown value falls back to the connection's own scheme


def test_bad_trusted_proxy_entries_stop_the_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'not-an-ip'"):
        ProxyTrust(['10.0.0.0/8', 'not-an-ip'])
    settings = Settings(data_dir=tmp_path, trusted_proxies='10.0.0.1, 300.1.1.1')
    with pytest.raises(ConfigError, match='NIXFLEET_TRUSTED_PROXIES'):
        build_app(Dashboard(settings))


def _facts(scheme: str, host: str) -> RequestFacts:
    return RequestFacts(None, None, scheme, host, via_trusted_proxy=False)


@pytest.mark.parametrize(
    ('origin', 'facts', 'allowed'),
    [
        ('http://dash:8000', _facts('http', 'dash:8000'), True),
        ('HTTP://DASH:8000', _facts('http', 'dash:8000'), True),
        ('http://dash', _facts('http', 'dash:80'), True),
        ('https://dash', _facts('http', 'dash'), True),  # a TLS proxy nobody told us about
        ('http://dash', _facts('https', 'dash'), False),  # never downgrade
        ('http://dash:8001', _facts('http', 'dash:8000'), False),
        ('http://evil.example', _facts('http', 'dash'), False),
        ('null', _facts('http', 'dash'), False),
        ('http://[::1', _facts('http', 'dash'), False),
        ('file://dash', _facts('http', 'dash'), False),
        ('http://dash', _facts('http', ''), False),
        ('https://ops.example', _facts('http', 'dash'), True),  # configured
        ('https://ops.example:443', _facts('http', 'dash'), True),
        ('http://[::1]:8000', _facts('http', '[::1]:8000'), True),
    ],
)
def test_origin_policy(origin: str, facts: RequestFacts, allowed: bool) -> None:
    assert OriginPolicy(['https://ops.example/', 'not a url']).allows(origin, facts) is allowed


def test_the_limiter_refuses_without_recording_and_reports_each_lockout_once() -> None:
    clock = ManualClock()
    limiter = AttemptLimiter(3, 60, clock)
    assert [limiter.attempt('a') for _ in range(3)] == [None, None, None]
    first, again = limiter.attempt('a'), limiter.attempt('a')
    assert first is not None and first.first and first.retry_after_seconds == 60
    assert again is not None and not again.first
    assert limiter.attempt('b') is None  # others are not affected
    clock.advance(60)
    assert limiter.attempt('a') is None  # refused attempts did not extend the window
    limiter.reset('a')
    assert [limiter.attempt('a') for _ in range(3)] == [None, None, None]


def test_the_limiter_forgets_idle_clients_and_stays_bounded() -> None:
    clock = ManualClock()
    limiter = AttemptLimiter(2, 10, clock, max_clients=100)
    for n in range(500):
        limiter.attempt(f'client-{n}')
    assert len(limiter) == 100
    clock.advance(11)
    limiter.attempt('late')
    assert len(limiter) == 1


def test_the_guard_counts_wrong_codes_not_replays_and_persists_through_hooks() -> None:
    clock = ManualClock()
    secret = pyotp.random_base32()
    used: list[int] = []
    refused: list[tuple[str, str]] = []
    guard = TotpGuard(
        secret,
        clock,
        max_failures=2,
        failure_window=60,
        on_used=used.append,
        on_refused=lambda blocked, purpose: refused.append((blocked.code.value, purpose)),
    )
    code = pyotp.TOTP(secret).at(clock())
    assert guard.check(code, purpose='login') is None and used == [int(clock() // 30)]
    for _ in range(3):
        assert guard.check(code).code == 'totp_invalid'  # replays: refused, but no guess
    assert guard.check('000000').code == 'totp_invalid'
    assert guard.check('000001').code == 'totp_invalid'
    clock.advance(30)
    assert guard.check(pyotp.TOTP(secret).at(clock())).code == 'rate_limited'
    assert [r for r, _ in refused].count('totp_invalid') == 5 and refused[-1] == ('rate_limited', 'op')

    restarted = TotpGuard(secret, clock)
    restarted.restore(used[-1] + 1)
    assert restarted.check(pyotp.TOTP(secret).at(clock())).code == 'totp_invalid'
