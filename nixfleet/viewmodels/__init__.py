"""NiceGUI-free models the browser UI renders (rows, commands, output tabs, subscription lifetimes).

Kept apart from `nixfleet.ui` so they can be used and unit-tested without NiceGUI; `nixfleet.ui` renders them.
"""
