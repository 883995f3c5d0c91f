#!/usr/bin/env bash
# Installs Debian packages for the test tools (used by install-chromium.sh and install-axe.sh):
# as root directly, else through sudo; says what to run when neither is possible.
# Usage: scripts/apt-install.sh WHY PACKAGE...
set -euo pipefail
why=$1; shift
echo "test: installing Debian's $* for $why"
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "test: $* missing and installing needs root: run 'apt-get install $*' as root." >&2
    exit 1
  fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
