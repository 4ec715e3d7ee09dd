#!/usr/bin/env bash
# A throwaway single-node Ceph cluster with RADOS Gateway (RGW), from Debian 12's own
# packages, and the artfs S3 backend contract suite run against it.
#
#     scripts/ceph-rgw.sh [--dir DIR] [--keep] [--bluestore] [--serve] [--] [PYTEST ARGS...]
#
# PYTEST ARGS follow the script's own, so they win: -x, -v, --timeout=N, or -k "s3 and
# racing" for some tests (a -k replaces the script's -k s3, so keep "s3 and").
#
# One monitor, one manager, one OSD (memstore: in memory, saved to DIR on shutdown; or
# --bluestore: BlueStore on a sparse file in DIR) and one radosgw, all on 127.0.0.1 and
# all their data, config, sockets and logs under DIR (default: a fresh mktemp dir).  The
# daemons are this script's children (each in the foreground, -f), not systemd's or
# cephadm's, so the trap below can stop them, and DIR is removed, however the script ends
# (success, failure, Ctrl-C).  --keep leaves DIR (the logs) behind.  --serve starts the
# cluster, its S3 user and a bucket, writes DIR/env (the ARTFS_TEST_S3_* and AWS_* lines
# to source) and waits, running nothing, until it is stopped (Ctrl-C, kill).
#
# Then: an S3 user, a bucket, a probe of the server's conditional writes (scripts/
# s3_conditions.py and artfs's own check_bucket), the contract suite tests/test_backends.py
# on the "s3" backend (a fresh bucket per test, see ARTFS_TEST_S3_* in tests/s3server.py),
# and scripts/campaign.py with the same endpoint, plain and with --kill.  After each step,
# how many requests RGW answered 412 and 500 (its log, one line per request): RGW answers
# 500 to the losers of racing If-Match PUTs (op status -125, ECANCELED), which artfs
# must and does turn into a conflict (obstore retries; the retry gets 412).
#
# Debian 12's Ceph 16.2.15 passes all of it: check_bucket finds that its RGW wants
# If-Match's ETag bare (it refuses the quoted one it hands out) and remote.json keeps
# that; it ignores If-Match on DELETE, which artfs never sends.  About 80 s with the
# packages installed (cluster 17 s, probes 2 s, contract suite 15 s, campaign 24 s,
# --kill 20 s; RGW answered 17-22 of the suite's requests with 500, all conflicts).
#
# Runs as root on Debian 12 (as CI does): missing packages are installed with apt-get.
# Ports: 18700-18760 on 127.0.0.1 only.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

MON_V2_PORT=18700
MON_V1_PORT=18701
RGW_PORT=18702
# OSDs and managers bind whatever free ports lie in this range (several each).
BIND_MIN=18710
BIND_MAX=18760

DIR=""
KEEP=0
OBJECTSTORE=memstore
SERVE=0
PYTEST_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --bluestore) OBJECTSTORE=bluestore; shift ;;
    --serve) SERVE=1; shift ;;
    --) shift; PYTEST_ARGS+=("$@"); break ;;
    *) PYTEST_ARGS+=("$1"); shift ;;
  esac
done

# Each phase's wall time, printed as it ends, so a log shows where the time goes
# (EPOCHREALTIME without its dot: microseconds).
START=${EPOCHREALTIME/./}
PHASE_START=$START
seconds() { printf '%d.%d' $(($1 / 1000000)) $(($1 % 1000000 / 100000)); }
phase() {
  local now=${EPOCHREALTIME/./}
  printf '== %-36s %6s s   (total %6s s)\n' "$1" "$(seconds $((now - PHASE_START)))" \
    "$(seconds $((now - START)))"
  PHASE_START=$now
}

# --- Packages ------------------------------------------------------------------------
# --no-install-recommends: ceph-mgr recommends the dashboard and other modules that would
# add minutes of install and listen on ports of their own; none is needed here.
need=()
for pkg in ceph-mon ceph-mgr ceph-osd radosgw ceph-common curl; do
  # Installed, not merely known: a removed package's left-over config still has a status.
  [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] ||
    need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
    >/dev/null
fi
[ -x "$ROOT/.venv/bin/python" ] || "$ROOT/scripts/setup.sh"
phase "packages"

# --- The directory and the trap ------------------------------------------------------
# A directory given with --dir is created here and removed at exit like a mktemp one, so
# it must not hold anything of someone else's.
if [ -z "$DIR" ]; then
  DIR=$(mktemp -d /tmp/artfs-ceph.XXXXXX)
elif [ -e "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then
  echo "error: $DIR is not empty; give a new or empty directory" >&2
  exit 2
else
  mkdir -p "$DIR"
fi
DIR=$(cd "$DIR" && pwd)
cd "$ROOT"  # for tests.* imports and the scripts; DIR and ROOT are absolute from here
PIDS=()  # daemons, in start order
STEP_PID=""  # the step under way (see step below)
CLUSTER_UP=0  # set once radosgw answers: later failures are the tests', not the cluster's

# shellcheck disable=SC2317  # reached through the EXIT trap
cleanup() {
  local status=$? i pid
  trap - EXIT INT TERM
  PHASE_START=${EPOCHREALTIME/./}  # the phase printed below is the teardown alone
  if [ -n "$STEP_PID" ]; then  # a probe, the tests or the campaign, cut short
    kill -TERM "$STEP_PID" 2>/dev/null || true
    wait "$STEP_PID" 2>/dev/null || true
  fi
  # Newest first (radosgw, OSD, manager, monitor), one at a time: each stops while the
  # monitor it reports its shutdown to is still there (else the OSD waits 5 s for it).
  # SIGTERM is a clean shutdown; what still runs after 20 s is killed.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ ${#PIDS[@]} -eq 0 ] || phase "daemons stopped"
  if [ "$status" -ne 0 ] && [ "$CLUSTER_UP" -eq 0 ] && [ -d "$DIR/log" ]; then
    # What the daemons said last: usually why the cluster did not come up.
    for log in "$DIR"/log/*.log; do
      [ -s "$log" ] || continue
      echo "--- last lines of $log" >&2
      tail -n 15 "$log" >&2
    done
  fi
  if [ "$KEEP" -eq 1 ]; then
    echo "kept $DIR"
  else
    rm -rf "$DIR"
  fi
  exit "$status"
}
trap cleanup EXIT
# set -e stops at a failed command without a word: name it.
trap 'echo "error: line $LINENO: $BASH_COMMAND failed" >&2' ERR
# On Ctrl-C or kill, exit, which runs the EXIT trap.
trap 'echo "interrupted: stopping the cluster" >&2; exit 130' INT
trap 'exit 143' TERM

mkdir -p "$DIR"/{run,log,crash,mon.a,mgr.x,osd.0,rgw.a}

# --- Configuration -------------------------------------------------------------------
# Every path a daemon or tool would take from /etc/ceph, /var/lib/ceph, /var/run/ceph or
# /var/log/ceph points into DIR instead; CEPH_CONF makes every ceph tool read this file.
FSID=$(cat /proc/sys/kernel/random/uuid)
export CEPH_CONF="$DIR/ceph.conf"
cat >"$CEPH_CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind port min = $BIND_MIN
ms bind port max = $BIND_MAX
# No cephx: a cluster of one machine's loopback, gone when the script ends, has nobody
# to authenticate against, and without keys there are no keyrings to make and hand out.
# The S3 users' own keys (RGW's authentication) are unaffected.
auth cluster required = none
auth service required = none
auth client required = none
# Without keys there is no session key to encrypt with: connections to the monitor must
# be allowed in crc mode (radosgw asks for "secure" only, and would retry forever).
ms mon client mode = crc
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
crash dir = $DIR/crash
# One OSD: pools of one replica, placed across OSDs rather than hosts, few placement
# groups (RGW makes about eight pools; the default 32 PGs each would pass the limit of
# PGs per OSD), and no warnings about the lack of redundancy that is the point here.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
# The monitor's disk-space alarms are about DIR's disk, which is not ours to keep free.
mon data avail warn = 1
mon data avail crit = 0

[mon]
mon data = $DIR/mon.\$id
mon cluster log file = $DIR/log/cluster.log
# Only a module that listens nowhere: the default list has 'restful', an HTTP server.
mgr initial modules = iostat

[mgr]
mgr data = $DIR/mgr.\$id

[osd]
osd data = $DIR/osd.\$id
osd objectstore = $OBJECTSTORE
# memstore: a device of 4 GiB, as much memory as is used, at most
memstore device bytes = 4294967296
# bluestore: a sparse file of 10 GiB, 'block' in the OSD's directory
bluestore block create = true
bluestore block size = 10737418240

[client.rgw.a]
rgw data = $DIR/rgw.a
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
# Level 1 logs one line per request with its HTTP status: enough to see a 412.
debug rgw = 1
EOF

# Start a daemon in the foreground (-f) as a child of this script, so that its pid is
# ours to stop; what it prints goes next to its log.  setsid: in a session of its own,
# out of reach of the terminal's Ctrl-C, which Ceph's daemons would take as an order to
# stop at once, radosgw with the monitor, before the tests have stopped using them.
start() {
  local name=$1
  shift
  setsid "$@" -f >"$DIR/log/$name.out" 2>&1 &
  PIDS+=($!)
}

# Run a step against the cluster (a probe, the tests, the campaign) as a job that the
# script waits for.  A signal then interrupts the wait and runs the trap at once; run in
# the foreground, the step would first have to end, and a test's racing threads need
# not end while the server answers.  Such a job ignores Ctrl-C; cleanup stops it.
step() {
  local rc=0
  "$@" &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  return "$rc"
}

# Retry a check every half second until it passes or TIMEOUT seconds have gone, failing
# early if the daemon it waits for has died.
wait_for() {
  local what=$1 timeout=$2 pid=$3
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: $what: the daemon exited" >&2
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "error: $what: not after ${timeout}s" >&2
      return 1
    fi
    sleep 0.5
  done
}

ceph_q() { timeout 20 ceph --connect-timeout 10 "$@"; }

# RGW's 412 and 500 answers since the last call, from its log (debug rgw = 1).
SEEN_412=0
SEEN_500=0
# shellcheck disable=SC2317  # called after the steps below
answers() {
  local log="$DIR/log/client.rgw.a.log" n412 n500
  n412=$(grep -c 'http_status=412' "$log" || true)
  n500=$(grep -c 'http_status=500' "$log" || true)
  echo "   RGW answered $((n412 - SEEN_412)) requests with 412, $((n500 - SEEN_500)) with 500"
  SEEN_412=$n412
  SEEN_500=$n500
}

# --- Monitor -------------------------------------------------------------------------
monmaptool --create --fsid "$FSID" \
  --addv a "[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]" "$DIR/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$DIR/monmap" >"$DIR/log/mkfs-mon.out" 2>&1
start mon.a ceph-mon -i a
wait_for "monitor" 60 "${PIDS[-1]}" ceph_q mon stat
phase "monitor up"

# --- Manager -------------------------------------------------------------------------
# RGW does not need it, but without one the cluster reports no PG states and stays in
# HEALTH_WARN; it is part of any real deployment.
start mgr.x ceph-mgr -i x
phase "manager started"

# --- OSD -----------------------------------------------------------------------------
# 'osd new' allocates id 0 for this uuid; --mkfs writes the empty object store.
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(ceph_q osd new "$OSD_UUID")
ceph-osd -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >"$DIR/log/mkfs-osd.out" 2>&1
start "osd.$OSD_ID" ceph-osd -i "$OSD_ID"
# shellcheck disable=SC2317  # called by wait_for
osd_up() { [[ $(ceph_q osd stat -f json) == *'"num_up_osds":1'* ]]; }
wait_for "OSD" 120 "${PIDS[-1]}" osd_up
phase "OSD up ($OBJECTSTORE)"

# --- RADOS Gateway -------------------------------------------------------------------
# On first start it creates its realm, zone and pools; it answers HTTP once they exist.
start rgw.a radosgw -n client.rgw.a
ENDPOINT="http://127.0.0.1:$RGW_PORT"
wait_for "radosgw" 180 "${PIDS[-1]}" curl -sf "$ENDPOINT/"
CLUSTER_UP=1
phase "radosgw up"

echo "Ceph: $(ceph_q version)"
ceph_q versions >"$DIR/log/versions.json"

# --- An S3 user and a bucket ---------------------------------------------------------
# Keys made here (not by radosgw-admin) so that no JSON needs parsing to learn them.
ACCESS_KEY=$(od -An -N10 -tx1 /dev/urandom | tr -d ' \n')  # 20 hex digits
SECRET_KEY=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')  # 40
radosgw-admin user create --uid=artfs-test --display-name="artfs tests" \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
# The endpoint for the contract suite, the probes and the campaign (tests/s3server.py).
export ARTFS_TEST_S3_ENDPOINT="$ENDPOINT"
export ARTFS_TEST_S3_ACCESS_KEY="$ACCESS_KEY"
export ARTFS_TEST_S3_SECRET_KEY="$SECRET_KEY"
PY="$ROOT/.venv/bin/python"
BUCKET=$("$PY" -c 'from tests.s3server import ExternalS3
print(ExternalS3.from_env().bucket("artfs-probe"))')
phase "S3 user and bucket $BUCKET"

if [ "$SERVE" -eq 1 ]; then
  cat >"$DIR/env" <<EOF
export ARTFS_TEST_S3_ENDPOINT=$ENDPOINT
export ARTFS_TEST_S3_ACCESS_KEY=$ACCESS_KEY
export ARTFS_TEST_S3_SECRET_KEY=$SECRET_KEY
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_ENDPOINT_URL=$ENDPOINT
BUCKET=$BUCKET
EOF
  echo "serving $ENDPOINT (bucket $BUCKET): '. $DIR/env' for its settings; Ctrl-C stops it"
  step sleep infinity
fi

# --- Conditional writes --------------------------------------------------------------
# artfs needs create-if-absent and replace-if-unchanged enforced by the server, in one
# form of If-Match or the other.  First each request and its answer, then artfs's own
# verdict (check_bucket, which an artfs user's remote would meet).  A refusal is
# reported, and the suite still runs.
status=0
step "$PY" scripts/s3_conditions.py "$BUCKET" || status=1
step env AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY" "$PY" -c 'import sys
from artfs.errors import ArtfsError
from artfs.store.s3 import check_bucket
try:
    bare = check_bucket(sys.argv[1], sys.argv[2])
    print("check_bucket: accepted, If-Match", "bare" if bare else "quoted")
except ArtfsError as exc:
    sys.exit(f"check_bucket: {exc}")' "s3://$BUCKET/check" "$ENDPOINT" || status=1
answers
phase "conditional-write probes"

# --- The contract suite --------------------------------------------------------------
# -k s3: the suite's tests on the s3 backend only (their ids end in [s3] or [s3-...]).
# --timeout=60: each takes seconds here, and a compare-and-swap loop on a server that
# refuses every If-Match would otherwise spin for pyproject's 600 s.
step "$PY" -m pytest tests/test_backends.py -k s3 --timeout=60 -p no:cacheprovider \
  "${PYTEST_ARGS[@]}" || status=1
answers
phase "contract suite"

# --- Concurrent writers ---------------------------------------------------------------
# scripts/campaign.py: writers on four machines racing on one remote in this bucket,
# gc and readers at once.  It starts with 'artfs remote add', which refuses a server
# whose conditional writes fail the check above.
for kill in "" --kill; do
  step env AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY" \
    AWS_ENDPOINT_URL="$ENDPOINT" "$PY" scripts/campaign.py $kill \
    --url "s3://$BUCKET/campaign${kill:+-kill}" || status=1
  answers
  phase "campaign${kill:+ $kill}"
done

exit "$status"
