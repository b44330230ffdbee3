"""The `keneya` command: thin adapters over the service layer."""
