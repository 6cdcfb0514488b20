#!/usr/bin/env bash
# tests/slurm/cluster.sh start|stop|status|config DIR
#
# A real single-node Slurm cluster on loopback for molexp's tests, from Debian's
# packages (slurmctld, slurmd, slurm-client, munge). Everything lives under DIR:
# config, state, spool, logs, pid files, and munge's socket and key, so no system
# service is touched and two clusters can coexist (each on ports of its own).
# `config` only writes DIR's slurm.conf and prints its two ports.
# `stop` stops only the daemons whose pids this script recorded under DIR.
#
# env: CTLD_PORT, SLURMD_PORT: default, the ports DIR's cluster had, else two free
# ports picked now, so two clusters (two test runs) on one machine never clash.
# MAX_ARRAY_SIZE: slurm.conf's MaxArraySize (default 1001, Slurm's own), e.g. small to
# test sweeps that need more than one job array.
# FIRST_JOB_ID: slurm.conf's FirstJobId (default 1): job ids that no other test cluster
# uses, e.g. to stage another cluster's job with the same id.
# SLURMD_TIMEOUT: seconds before an unresponsive node is DOWN and its jobs requeued
# (default 30; small to test node failures quickly).
# Partitions: debug (default) and gpu (one fake GPU: gres backed by /dev/null).
# Accounting is off: final states come from `squeue -t all` for MinJobAge
# (1 h) and from the jobcomp file (DIR/log/jobcomp.txt) after that.
set -euo pipefail

usage() { echo "usage: $0 start|stop|status|config DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
ACTION=$1
mkdir -p "$2"
D=$(readlink -f "$2")
export SLURM_CONF="$D/etc/slurm.conf"

# a setting of DIR's earlier config (a restart keeps its ports and settings)
conf_value() { [ -f "$SLURM_CONF" ] || return 0; sed -n "s/^$1=//p" "$SLURM_CONF" | head -n 1; }
MAX_ARRAY_SIZE=${MAX_ARRAY_SIZE:-$(conf_value MaxArraySize)}
MAX_ARRAY_SIZE=${MAX_ARRAY_SIZE:-1001}
FIRST_JOB_ID=${FIRST_JOB_ID:-$(conf_value FirstJobId)}
FIRST_JOB_ID=${FIRST_JOB_ID:-1}
SLURMD_TIMEOUT=${SLURMD_TIMEOUT:-$(conf_value SlurmdTimeout)}
SLURMD_TIMEOUT=${SLURMD_TIMEOUT:-30}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
CTLD_PORT=${CTLD_PORT:-$(conf_value SlurmctldPort)}
SLURMD_PORT=${SLURMD_PORT:-$(conf_value SlurmdPort)}
CTLD_PORT=${CTLD_PORT:-$(free_port)}
SLURMD_PORT=${SLURMD_PORT:-$(free_port)}
while [ "$SLURMD_PORT" = "$CTLD_PORT" ]; do SLURMD_PORT=$(free_port); done

# a process that exists and is not a zombie (a daemon killed by a test stays one
# where the container's init does not reap, and kill -0 still reaches it)
pid_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}
alive() { [ -s "$D/run/$1.pid" ] && pid_alive "$(cat "$D/run/$1.pid")"; }

answers() { sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

write_config() {
  local host ncpu mem
  host=$(hostname -s)
  ncpu=$(nproc)
  # a little under what slurmd detects, or the node is drained for "low memory"
  mem=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 - 1024 ))
  mkdir -p "$D"/{etc,log,run,state,spool,dev,munge}
  chmod 755 "$D" "$D"/{etc,log,run,state,spool,dev}
  chmod 700 "$D/munge"
  cat > "$SLURM_CONF" <<CONF
ClusterName=molexp-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/run/munge.sock
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups in this container
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/log/jobcomp.txt
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
EnforcePartLimits=ALL
GresTypes=gpu
ReturnToService=2
MinJobAge=3600
# job arrays: task indices 0..MaxArraySize-1 (small values test sweeps split across arrays)
MaxArraySize=$MAX_ARRAY_SIZE
# scancel: SIGTERM, then SIGKILL after KillWait seconds
KillWait=5
FirstJobId=$FIRST_JOB_ID
SlurmctldTimeout=30
SlurmdTimeout=$SLURMD_TIMEOUT
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$ncpu RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host Default=NO MaxTime=INFINITE State=UP
CONF
  # gres/gpu drops entries without File=; a device whose name ends in a digit will do
  ln -sfn /dev/null "$D/dev/nvidia0"
  cat > "$D/etc/gres.conf" <<CONF
AutoDetect=off
NodeName=$host Name=gpu File=$D/dev/nvidia0
CONF
  [ -f "$D/munge/munge.key" ] || {
    dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$D/munge/munge.key"
  }
}

start() {
  if alive slurmctld && alive slurmd && answers; then
    echo "slurm already up: export SLURM_CONF=$SLURM_CONF"; return 0
  fi
  for tool in munged slurmctld slurmd sinfo sbatch; do
    command -v "$tool" >/dev/null || { echo "$tool not found: run tests/slurm/install-deps.sh" >&2; exit 1; }
  done
  write_config
  alive munged || munged --socket="$D/run/munge.sock" --key-file="$D/munge/munge.key" \
      --pid-file="$D/run/munged.pid" --log-file="$D/log/munged.log" --seed-file="$D/munge/munge.seed"
  alive slurmctld || slurmctld   # daemonizes; pid file under DIR/run
  alive slurmd || slurmd -N "$(hostname -s)"
  for _ in $(seq 1 100); do
    if answers; then echo "slurm up: export SLURM_CONF=$SLURM_CONF"; return 0; fi
    sleep 0.3
  done
  echo "slurm did not come up in 30 s; logs under $D/log:" >&2
  tail -n 20 "$D"/log/*.log >&2 || true
  stop
  exit 1
}

stop() {
  if alive slurmctld; then
    local ids
    ids=$(squeue -h -o %A 2>/dev/null || true)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      scancel $ids 2>/dev/null || true
      for _ in $(seq 1 50); do [ -z "$(squeue -h -t R,CG 2>/dev/null)" ] && break; sleep 0.2; done
    fi
  fi
  for name in slurmd slurmctld munged; do
    local f="$D/run/$name.pid" pid
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    if pid_alive "$pid"; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
      if pid_alive "$pid"; then kill -KILL "$pid"; fi
    fi
    rm -f "$f"
  done
  echo "slurm stopped ($D)"
}

case "$ACTION" in
  start) start ;;
  stop) stop ;;
  status) alive slurmctld && alive slurmd && answers ;;
  config) write_config; echo "$CTLD_PORT $SLURMD_PORT" ;;
  *) usage ;;
esac
