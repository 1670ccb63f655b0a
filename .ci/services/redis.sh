#!/usr/bin/env bash
# Redis on 127.0.0.1:6379: the Celery broker and result backend of integration_tests/test_celery.py.
#
# Checks that the server answers; installs Debian's redis-server if it is missing and starts it
# (in memory only: no snapshot, no append-only file) if it is down. Idempotent.
set -euo pipefail

answers() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis: installing redis-server"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

if ! answers; then
  echo "redis: starting redis-server"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 40); do
    answers && break
    sleep 0.25
  done
fi
if ! answers; then
  echo "redis: server does not answer on 127.0.0.1:6379" >&2
  exit 1
fi
echo "redis: $(redis-cli -h 127.0.0.1 -p 6379 info server | grep -m1 redis_version | tr -d '\r') answers on 127.0.0.1:6379"
