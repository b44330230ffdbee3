"""Set English translations in the web catalog: `translate.py 'msgid=translation' ...`."""

import sys

from babel.messages.pofile import read_po, write_po

PO = "appliance/web/locale/en/LC_MESSAGES/messages.po"
with open(PO, "rb") as f:
    catalog = read_po(f, locale="en")
for pair in sys.argv[1:]:
    msgid, _, english = pair.partition("=")
    if msgid not in catalog:
        sys.exit(f"not in the catalog (run scripts/messages.sh first): {msgid!r}")
    catalog[msgid].string = english
with open(PO, "wb") as f:
    write_po(f, catalog, width=100)
