#!/usr/bin/env bash
# Install Debian's headless Chromium and its WebDriver for the page tests of
# `molexp view` (tests/test_view_browser.py); a no-op when they are there.
set -euo pipefail
command -v chromium >/dev/null && command -v chromedriver >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
