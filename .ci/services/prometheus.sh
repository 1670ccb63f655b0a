#!/usr/bin/env bash
# Prometheus server binary for the exporter integration test (Debian package `prometheus`).
#
# Only installs: the system service is NOT started (and kept from auto-starting during the
# install). The test starts its own `prometheus` process with a temporary config and data
# directory on 127.0.0.1 and a free port. Idempotent; returns at once when already installed.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1; then
  echo "prometheus: $(prometheus --version 2>&1 | head -n1)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "prometheus: not installed and not root; run: sudo apt-get install -y prometheus" >&2
  exit 1
fi

# Keep invoke-rc.d from starting the packaged service during postinst (only if no policy exists).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Some images start it anyway (no policy-rc.d support): stop the packaged service, never ours.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
  systemctl disable prometheus >/dev/null 2>&1 || true
fi

echo "prometheus: installed $(prometheus --version 2>&1 | head -n1)"
