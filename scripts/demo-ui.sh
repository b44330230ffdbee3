#!/usr/bin/env bash
# The end of `make demo`: the DHIS2 simulator and the modem daemon on a simulated 3G stick in
# the background, the kiosk in a window when there is a screen (X or Wayland, or a KMS console
# on the Pi), and the tablet web app in the foreground until Ctrl-C.
set -uo pipefail
cd "$(dirname "$0")/.."
home="$1"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT

.venv/bin/keneya dhis2-sim --port 8099 --metadata "$home/dhis2-demo-metadata.json" \
    --token d2pat_demo-only-token --data-file "$home/dhis2-sim-values.json" --auto-reply 20 \
    >"$home/dhis2-sim.log" 2>&1 &
pids+=($!)
# The simulated link is up about a minute, then down about 30 s: a report sent from the web
# leaves when it is up. Follow it with: .venv/bin/keneya --home "$home" modem status
.venv/bin/keneya --home "$home" modem run --simulate --outage 60 30 >"$home/modem.log" 2>&1 &
pids+=($!)
echo "Modem: a simulated E173 and a link that comes and goes; reports go to the DHIS2"
echo "simulator on http://127.0.0.1:8099 (log: $home/modem.log; status: keneya modem status)."

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || { [ -e /dev/dri/card0 ] && [ -t 0 ]; }; then
    echo "Kiosk: a window of 800x480; log in with a username's PIN from $home/demo-logins.txt"
    .venv/bin/keneya --home "$home" kiosk --size 800x480 &
    pids+=($!)
else
    echo "No screen here: the kiosk is not opened (try: .venv/bin/keneya --home $home kiosk)"
fi
.venv/bin/keneya --home "$home" serve --port 8080
