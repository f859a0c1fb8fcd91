"""Typed changes, the versioned fleet state stream, LiveState, state trimming and the sync protocol."""
