"""Keneya core: config, record store, domain services, clinical rules, reports, CLI."""
