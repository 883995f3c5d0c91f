#!/usr/bin/env bash
# The browser tests check every page with axe-core (accessibility rules) run inside Chromium.
# axe-core comes from the npm registry, pinned, into var/npm (nothing is fetched at test time).
# Installs Node.js and npm from Debian's packages when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_VERSION=4.14.1
target=var/npm/node_modules/axe-core
if [ -f "$target/axe.min.js" ] && grep -q "\"version\": \"$AXE_VERSION\"" "$target/package.json"; then exit 0; fi
if ! command -v npm >/dev/null 2>&1; then
  echo "test: installing Debian's nodejs and npm for axe-core"
  SUDO=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "test: npm is missing and installing it needs root: run 'apt-get install nodejs npm' as root." >&2
      exit 1
    fi
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
echo "test: installing axe-core $AXE_VERSION into var/npm"
mkdir -p var/npm
npm install --prefix var/npm --no-audit --no-fund --no-save --loglevel=error "axe-core@$AXE_VERSION" >/dev/null
