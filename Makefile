# The two commands of the README: `make demo` and `make test`. Each sets itself up first.
VENV := .venv
BIN := $(VENV)/bin
KENEYA_HOME ?= $(CURDIR)/demo-home

.PHONY: setup demo test lint unit component bench clean image image-test bundle

setup:
	@scripts/setup.sh

# The facility, then a cloudy day and a half of the solar battery on the simulator (about
# 20 s): the power monitor warns, decides a safe shutdown and counts down. Then the kiosk (when
# there is a screen) and the tablet web app on http://127.0.0.1:8080 until Ctrl-C.
demo: setup
	@$(BIN)/keneya --home "$(KENEYA_HOME)" demo
	@echo
	@echo "Power monitor on the simulator (cloudy days, 2 simulated hours per second):"
	@$(BIN)/keneya --home "$(KENEYA_HOME)" power run --simulate cloudy --speed 7200 \
		--start-hour 12 --report-every 7200 --duration 194400
	@$(BIN)/keneya --home "$(KENEYA_HOME)" power status
	@echo
	@scripts/demo-ui.sh "$(KENEYA_HOME)"

test: setup lint
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: setup
	$(BIN)/python -m pytest -q tests/unit

# The SD-card image (as root; the root filesystem is cached in /var/cache/keneya-image, or
# $KENEYA_IMAGE_CACHE) and its boot test under qemu.
image: setup
	@scripts/setup.sh image
	$(BIN)/python -m image_build build

# The signed update bundle of the newest image's root (README: "Updating a facility"); the
# district's key from KENEYA_BUNDLE_KEY / KENEYA_BUNDLE_CERT or /etc/keneya-district/.
bundle: setup
	@scripts/setup.sh image
	$(BIN)/python -m image_build bundle

image-test: setup
	@scripts/setup.sh image
	$(BIN)/python -m image_build test

bench: setup
	$(BIN)/python benchmarks/store.py

clean:
	rm -rf $(VENV) demo-home .pytest_cache .ruff_cache
