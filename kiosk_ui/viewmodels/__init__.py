"""Kiosk view-models: every screen's logic as plain Python, tested without a window."""
