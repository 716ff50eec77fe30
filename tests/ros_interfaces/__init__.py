"""Interface definitions and their build for tests (see build.py)."""
