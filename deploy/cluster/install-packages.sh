#!/usr/bin/env bash
# Install Debian's postgresql and redis-server when missing (non-interactive; needs root or sudo).
set -euo pipefail

missing=()
ls -d /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || missing+=(postgresql)
command -v redis-server > /dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)
echo "installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
# Debian's packages start their own system servers; the cluster runs its own on other ports
# and does not need them. They are left as the package set them up.
