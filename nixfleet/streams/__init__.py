"""Rx streams: the bus of typed subjects, the versioned fleet state, LiveState and sync framing."""
