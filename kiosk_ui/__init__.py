"""Kivy touchscreen kiosk: screens, widgets and view-models over the appliance services."""
