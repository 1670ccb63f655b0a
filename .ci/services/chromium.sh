#!/usr/bin/env bash
# Headless Chromium for the dashboard browser test (packages/llamonitor-core/tests/api/test_browser.py).
# Installs Debian's `chromium` if /usr/bin/chromium is missing; idempotent, quick when present.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo installed)"
