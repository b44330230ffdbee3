#!/usr/bin/env bash
# The end of `make demo`: the kiosk in a window when there is a screen (X or Wayland, or a
# KMS console on the Pi), and the tablet web app in the foreground until Ctrl-C.
set -uo pipefail
cd "$(dirname "$0")/.."
home="$1"
kiosk=""
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || { [ -e /dev/dri/card0 ] && [ -t 0 ]; }; then
    echo "Kiosk: a window of 800x480; log in with a username's PIN from $home/demo-logins.txt"
    .venv/bin/keneya --home "$home" kiosk --size 800x480 &
    kiosk=$!
    trap 'kill "$kiosk" 2>/dev/null' EXIT
else
    echo "No screen here: the kiosk is not opened (try: .venv/bin/keneya --home $home kiosk)"
fi
.venv/bin/keneya --home "$home" serve --port 8080
