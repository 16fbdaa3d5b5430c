#!/usr/bin/env bash
# A single-node SLURM cluster on this machine (Debian slurm-wlm + munge), for CI and for trying
# the SLURM profile on a workstation (the recipe verified on Debian 12 with slurm-wlm 22.05).
#
#   scripts/slurm-cluster.sh start     # install if missing, start munged, slurmctld, slurmd;
#                                      # wait until the node is idle (idempotent)
#   scripts/slurm-cluster.sh status    # exit 0 when the cluster answers and a node is usable
#   scripts/slurm-cluster.sh stop      # stop slurmd, slurmctld (and munged if we started it)
#   scripts/slurm-cluster.sh log       # path of the controller's log
#
# Needs root (apt-get, daemons). State, spool and logs live under $WBE_SLURM_BASE
# (default /tmp/wbe-slurm). slurm.conf MUST be at /etc/slurm/slurm.conf: the Snakemake SLURM
# plugin strips SLURM_* variables (SLURM_CONF too) before the srun inside each job.
# An existing /etc/slurm/slurm.conf not written by this script is kept as slurm.conf.orig.
set -euo pipefail

BASE=${WBE_SLURM_BASE:-/tmp/wbe-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by wbe scripts/slurm-cluster.sh"
HOST=$(hostname -s)
CPUS=${WBE_SLURM_CPUS:-$(nproc)}
MEM_MB=${WBE_SLURM_MEM_MB:-$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.85}' /proc/meminfo)}
WAIT_S=${WBE_SLURM_WAIT_S:-60}

log() { echo "[slurm-cluster] $*" >&2; }

alive() {  # alive PIDFILE: the process in the pid file runs
  [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return
  fi
  [[ $(id -u) -eq 0 ]] || { log "slurm-wlm/munge missing and not root: cannot install"; exit 1; }
  log "installing slurm-wlm and munge (apt-get)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
}

start_munge() {
  if pgrep -x munged >/dev/null; then
    return
  fi
  if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  touch "$BASE/.munged-started-by-wbe"
  log "munged started"
}

write_conf() {
  mkdir -p "$BASE"/{state,spool,log} /etc/slurm
  if [[ -f $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
    log "keeping the existing $CONF as $CONF.orig"
    mv "$CONF" "$CONF.orig"
  fi
  local tmp
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
$MARK
ClusterName=wbe
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/slurmctld.pid
SlurmdPidFile=$BASE/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=pmi2
ReturnToService=2
MinJobAge=300
MailProg=/bin/true
KillWait=5
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if ! cmp -s "$tmp" "$CONF" 2>/dev/null; then
    install -m 644 "$tmp" "$CONF"
    log "wrote $CONF ($HOST: $CPUS CPUs, $MEM_MB MB)"
  fi
  rm -f "$tmp"
}

node_usable() {
  sinfo -h -o %T 2>/dev/null | grep -qxE 'idle|mixed|allocated|completing'
}

cmd_start() {
  install_packages
  mkdir -p "$BASE"
  start_munge
  write_conf
  if ! alive "$BASE/slurmctld.pid"; then
    slurmctld
    log "slurmctld started"
  fi
  if ! alive "$BASE/slurmd.pid"; then
    slurmd
    log "slurmd started"
  fi
  local waited=0
  until node_usable; do
    sleep 0.5
    waited=$((waited + 1))
    if ((waited > WAIT_S * 2)); then
      log "node not idle after ${WAIT_S}s; sinfo says: $(sinfo -h -o '%T %E' 2>&1 || true)"
      log "see $BASE/log/slurmctld.log and $BASE/log/slurmd.log"
      exit 1
    fi
  done
  log "cluster up: $(sinfo -h -o '%P %a %D %T %N')   controller log: $BASE/log/slurmctld.log"
}

stop_pidfile() {  # stop_pidfile NAME PIDFILE
  local pid
  if alive "$2"; then
    pid=$(cat "$2")
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "$1 stopped"
  fi
}

cmd_stop() {
  stop_pidfile slurmd "$BASE/slurmd.pid"
  stop_pidfile slurmctld "$BASE/slurmctld.pid"
  if [[ -f $BASE/.munged-started-by-wbe ]]; then
    local pidfile=/run/munge/munged.pid
    [[ -s $pidfile ]] || pidfile=/var/run/munge/munged.pid
    stop_pidfile munged "$pidfile"
    rm -f "$BASE/.munged-started-by-wbe"
  fi
}

cmd_status() {
  if alive "$BASE/slurmctld.pid" && alive "$BASE/slurmd.pid" && node_usable; then
    sinfo -h -o '%P %a %D %T %N'
    return 0
  fi
  log "not running (or node not usable)"
  return 1
}

case ${1:-start} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  log) echo "$BASE/log/slurmctld.log" ;;
  *) echo "usage: $0 start|stop|status|log" >&2; exit 2 ;;
esac
