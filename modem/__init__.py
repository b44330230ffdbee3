"""3G modem: AT-command driver, state machine, data link, outbox uploader, SMS fallback,
simulator."""
