"""Backups: the online copy and its check, restore, the nightly rotation on the data
partition, age encryption, and the USB stick flow. Nothing here needs a staff login: these
are the technician's and the system's commands, and they never show patient data."""

from appliance.backup.age import decrypt, encrypt
from appliance.backup.copy import BackupError, BackupRefused, create, verify
from appliance.backup.local import newest, nightly
from appliance.backup.restore import restore
from appliance.backup.usb import UsbError

__all__ = [
    "BackupError",
    "BackupRefused",
    "UsbError",
    "create",
    "decrypt",
    "encrypt",
    "newest",
    "nightly",
    "restore",
    "verify",
]
