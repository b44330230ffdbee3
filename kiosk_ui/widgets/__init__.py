"""Kivy widgets of the kiosk: no view-model knowledge, no data access."""
