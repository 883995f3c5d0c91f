#!/usr/bin/env bash
# Makes sure Debian's nginx is installed (the production profile's reverse proxy; api/prod.py writes
# its configuration and runs it as its own process, so the system's nginx service is not used).
# Usage: scripts/ensure-nginx.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  echo "nginx: installed, nothing to do"
  exit 0
fi
scripts/apt-install.sh "the production profile's reverse proxy" nginx
# Debian starts its own nginx on port 80 after installing; ours runs apart from it.
{ command -v service >/dev/null 2>&1 && service nginx stop >/dev/null 2>&1; } || true
echo "nginx: installed"
