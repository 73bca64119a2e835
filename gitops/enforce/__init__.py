"""Enforcement before merge: pure rules, hook installation, what the hooks run."""
