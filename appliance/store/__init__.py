"""The record store: the only module that writes SQL (SQLite through sqlite-utils)."""

from appliance.store.db import Store, StoreError

__all__ = ["Store", "StoreError"]
