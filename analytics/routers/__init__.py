"""The endpoints of the analytics API, by area."""
