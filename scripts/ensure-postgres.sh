#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 for the store's tests (tests/integration/conftest.py):
# succeeds at once when it does; otherwise installs Debian's postgresql (scripts/apt-install.sh),
# starts its cluster and lets local TCP connections in without a password (trust: a test machine only).
# Usage: scripts/ensure-postgres.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=127.0.0.1
PORT=5432

answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$HOST" -p "$PORT"
  else
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
  fi
}

if answers; then
  echo "postgres: answering on $HOST:$PORT, nothing to do"
  exit 0
fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  scripts/apt-install.sh "the store's PostgreSQL tests" postgresql
else
  echo "postgres: installed already, not running"
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! command -v pg_lsclusters >/dev/null 2>&1 || ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
  echo "postgres: creating cluster $version/main"
  $SUDO pg_createcluster "$version" main --port "$PORT" >/dev/null
fi
hba="/etc/postgresql/$version/main/pg_hba.conf"
if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
  echo "postgres: trusting local TCP connections from 127.0.0.1 and ::1 in $hba"
  tmp=$(mktemp)
  { printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'; grep -v '^host' "$hba" || true; } >"$tmp"
  $SUDO cp "$tmp" "$hba"
  rm -f "$tmp"
fi
echo "postgres: starting cluster $version/main"
if ! $SUDO pg_ctlcluster "$version" main start 2>/dev/null; then
  $SUDO pg_ctlcluster "$version" main reload || true
fi
$SUDO pg_ctlcluster "$version" main reload >/dev/null 2>&1 || true
for _ in $(seq 1 30); do
  if answers; then
    echo "postgres: answering on $HOST:$PORT (user postgres, trust)"
    exit 0
  fi
  sleep 1
done
echo "postgres: still not answering on $HOST:$PORT; see /var/log/postgresql/postgresql-$version-main.log" >&2
exit 1
