"""Key Vault material and the file bytes it becomes: pure functions, no I/O."""
