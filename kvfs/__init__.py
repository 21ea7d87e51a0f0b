"""kvfs: Azure Key Vault secrets, keys and certificates as read-only files."""

__version__ = "0.1.0"
