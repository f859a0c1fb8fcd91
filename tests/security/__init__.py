"""Tests of agent and API tokens (issue 7 scope 3 and 4)."""
