#!/usr/bin/env bash
# The browser tests check every page with axe-core (accessibility rules) run inside Chromium.
# axe-core comes from the npm registry, pinned, into var/npm (nothing is fetched at test time).
# Installs Node.js and npm from Debian's packages when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_VERSION=4.14.1
target=var/npm/node_modules/axe-core
if [ -f "$target/axe.min.js" ] && grep -q "\"version\": \"$AXE_VERSION\"" "$target/package.json"; then exit 0; fi
command -v npm >/dev/null 2>&1 || scripts/apt-install.sh "axe-core" nodejs npm
echo "test: installing axe-core $AXE_VERSION into var/npm"
mkdir -p var/npm
npm install --prefix var/npm --no-audit --no-fund --no-save --loglevel=error "axe-core@$AXE_VERSION" >/dev/null
