"""How a failure's cause is worded (nixfleet.causes): the same text in toasts, the grid, History and the CLI."""

from __future__ import annotations

from nixfleet.causes import cause, last_error_line, short_cause


def test_the_line_naming_the_error_wins_over_later_noise() -> None:
    switch = [  # the Go agent's failed switch (protocol transcript, phase D2)
        ('stderr', '[fake-sudo] nixos-rebuild switch --flake /srv/agent/repo#testhost'),
        ('stderr', 'building the system configuration...'),
        ('stderr', "error: builder for '/nix/store/fake.drv' failed with exit code 1"),
        ('stdout', '[fake-nixos-rebuild] args: switch --flake /srv/agent/repo#testhost'),
    ]
    assert last_error_line(switch) == "error: builder for '/nix/store/fake.drv' failed with exit code 1"
    quoted = [('stderr', "       > \x1b[31;1merror:\x1b[0m The option `x' does not exist.")]
    assert last_error_line(quoted) == "error: The option `x' does not exist."  # no colours, no nix quote marks
    tests = [('stdout', 'T01 PASS'), ('stderr', 'T02 writes a warning to stderr'), ('stdout', 'T02 done')]
    assert last_error_line(tests) == 'T02 writes a warning to stderr'  # else the last stderr line
    assert last_error_line([('stdout', 'Already up to date.')]) is None


def test_a_cause_names_code_exit_code_and_line_and_drops_the_generic_agent_message() -> None:
    failed = {'status': 'ERROR', 'exit_code': 1, 'error': 'command failed', 'error_line': 'fatal: no route'}
    assert cause(failed) == 'exit 1 — fatal: no route'
    assert short_cause(failed) == 'exit 1'
    blocked = {'status': 'BLOCKED', 'code': 'host_offline', 'error': 'web-02 is offline'}
    assert cause(blocked) == 'host_offline — web-02 is offline'
    assert short_cause(blocked) == 'host offline'
    said = {'status': 'ERROR', 'exit_code': 1, 'error': '2 of 8 tests failed', 'error_line': 'T05 FAIL: timeout'}
    assert cause(said) == 'exit 1 — 2 of 8 tests failed: T05 FAIL: timeout'
    assert cause({'status': 'SUCCESS', 'message': 'done'}) == ''
