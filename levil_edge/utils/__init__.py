"""Small helpers shared by the library (no torch imports here)."""
