"""Synthetic but realistic data for demonstrations, tests and a seeded facility."""
