"""The kiosk's screens: thin Kivy views over kiosk_ui.viewmodels."""
