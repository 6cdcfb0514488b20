#!/usr/bin/env bash
# Install Debian's strace for tests/test_sweep_faults.py, which kills molexp with
# SIGKILL at each step of preparing and resuming a sweep (strace -e inject=...);
# a no-op when it is there.
set -euo pipefail
command -v strace >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends strace >/dev/null
