"""Security: agent and API tokens (`tokens`, `service`, `cli`), who is asking (`net`, `context`), login and TOTP
limits (`ratelimit`), the request middleware (`middleware`: proxy rules, origin checks, security headers) and the
security state kept across restarts (`state`: session epoch, logouts, last TOTP step)."""
