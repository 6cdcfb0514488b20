#!/usr/bin/env bash
# Install the Debian packages the Slurm tests need; a no-op when they are there.
set -euo pipefail
need=0
for tool in sbatch slurmctld slurmd munged; do command -v "$tool" >/dev/null || need=1; done
[ "$need" = 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
