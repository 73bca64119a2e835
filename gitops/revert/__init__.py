"""Surgical revert and reapply: pure plan rules, applying them, the in-flight radar."""
