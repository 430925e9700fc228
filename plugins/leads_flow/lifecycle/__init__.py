"""Lifecycle of stored data: key rotation (rekey) and, later, erasure."""
