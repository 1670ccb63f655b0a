#!/usr/bin/env bash
# MariaDB on 127.0.0.1:3306 for the storage tests (database `test`, root, empty password).
#
# Checks that the server answers; starts mariadbd if it is down (no systemd here; my.cnf sets
# `user = mysql`) and waits until it accepts connections; creates database `test` if missing.
# Idempotent: returns at once when everything is already there.
set -euo pipefail

answers() { mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -uroot --connect-timeout=2 ping >/dev/null 2>&1; }

if [ ! -x /usr/sbin/mariadbd ]; then
  echo "mariadb: mariadb-server is not installed (apt-get install -y mariadb-server)" >&2
  exit 1
fi

if ! answers; then
  echo "mariadb: starting mariadbd"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do
    answers && break
    sleep 0.5
  done
fi
if ! answers; then
  echo "mariadb: server does not answer on 127.0.0.1:3306" >&2
  exit 1
fi

mysql --protocol=tcp -h 127.0.0.1 -P 3306 -uroot -e "CREATE DATABASE IF NOT EXISTS test CHARACTER SET utf8mb4"
echo "mariadb: $(mysql --protocol=tcp -h 127.0.0.1 -uroot -N -e 'SELECT VERSION()') answers on 127.0.0.1:3306"
