"""Build the native parts (filled in by the native issue)."""
