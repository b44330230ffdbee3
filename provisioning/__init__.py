"""Provisioning: facility file schema and validation, first-boot apply, hotspot configuration,
secrets."""
