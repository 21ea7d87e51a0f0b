"""Conformance of the fake vault with the Azure SDK's own Key Vault test suites (see README.md)."""
