"""The training library: guidelines and job aids (PDF) brought on a USB stick, kept on the data
partition, searched by title and text, opened on tablets and the kiosk.

`index` reads and checks the stick's index (pure), `topics` links alerts and due items to a
topic (pure), `files` copies, checks and reads the PDFs themselves."""

from __future__ import annotations


class LibraryError(ValueError):
    """A stick, an index or a document the library refuses; the message is one line."""
