"""Security in one room: agent and API tokens, admin sessions, password and TOTP checks, rate limits, proxy trust,
the request middleware, session-bound links and the security state kept across restarts."""
