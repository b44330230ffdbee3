"""The service layer: every read and write of records goes through here, as an authenticated
staff member, checked against the permission table and audited. The CLI, the web app and the
kiosk are thin adapters over these functions."""
