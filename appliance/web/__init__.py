"""The tablet web app served over the hotspot."""
