#!/usr/bin/env bash
# Re-extract the web app's French msgids (babel.cfg, same as `pybabel extract -F babel.cfg`)
# and merge them into the English catalog, then run the catalog's tests. New msgids arrive
# untranslated (the tests fail until they are translated); msgids gone from the code are
# dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python - <<'PY'
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

PO = "appliance/web/locale/en/LC_MESSAGES/messages.po"

with open("babel.cfg") as f:
    method_map, options_map = parse_mapping_cfg(f, "babel.cfg")
template = Catalog(project="Keneya", version="1")
for filename, lineno, message, comments, context in extract_from_dir(
    ".", method_map, options_map, keywords=DEFAULT_KEYWORDS
):
    template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
with open(PO, "rb") as f:
    catalog = read_po(f, locale="en")
catalog.update(template, no_fuzzy_matching=True)
catalog.obsolete.clear()
with open(PO, "wb") as f:
    write_po(f, catalog, width=100)
missing = [m.id for m in catalog if m.id and not m.string]
print(f"{len(catalog)} msgids, {len(missing)} to translate")
for msgid in missing:
    print("  ", msgid)
PY
.venv/bin/python -m pytest -q tests/unit/test_web_i18n.py
