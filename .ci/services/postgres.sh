#!/usr/bin/env bash
# PostgreSQL on 127.0.0.1:5432 for the storage tests (database `test`, user `postgres`, trust auth).
#
# Checks that the server answers; starts the cluster if it is down (no systemd here:
# --skip-systemctl-redirect) and waits until it accepts connections; creates database `test`
# if it is missing. Idempotent: returns at once when everything is already there.
set -euo pipefail

answers() { pg_isready -q -h 127.0.0.1 -p 5432; }

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "postgres: postgresql is not installed (apt-get install -y postgresql)" >&2
  exit 1
fi

if ! answers; then
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  echo "postgres: starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do
    answers && break
    sleep 0.5
  done
fi
if ! answers; then
  echo "postgres: server does not answer on 127.0.0.1:5432" >&2
  exit 1
fi

if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test"
fi
echo "postgres: $(psql -h 127.0.0.1 -U postgres -d test -tAc 'SHOW server_version') answers on 127.0.0.1:5432"
