"""Pure domain rules: names, patients, encounters, permissions."""
