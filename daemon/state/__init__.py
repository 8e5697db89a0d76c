"""The state directory: atomic private files, the device identity, the secret store."""
