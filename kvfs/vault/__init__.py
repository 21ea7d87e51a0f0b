"""Key Vault access: credentials from the class's identity settings, and the SDK clients."""
