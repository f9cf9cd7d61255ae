"""Backends: each renders a resolved ``Program``; none reads policy files."""
