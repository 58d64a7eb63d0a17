#!/usr/bin/env bash
# node-rss.sh: RSS at rest of one node's per-node services, run as three
# processes (camera-producer, temp-producer, master-watcher) and as one
# (node-agent), side by side in the same window, for each Kafka backend.
#
#   SENSORNODE_DEVSTACK_DIR=/work/main/.devstack tools/scripts/node-rss.sh [rounds] [settle-seconds] [sample-seconds]
#
# Needs a running devstack (it only reads its addresses). Per backend and
# round it starts the four processes at once against the edge brokers and
# ZooKeeper (camera: an empty picture directory; temp: the synthetic
# sensor at its 10 s default; master-watcher: TCP probes of the ZooKeeper
# ports, its view under /sensornode-test), waits settle seconds, then reads
# VmRSS from /proc once a second for sample seconds. Per round it prints the
# mean and peak RSS of the three processes summed (per-sample sum) and of
# node-agent; at the end the median of the rounds. Binaries are the default
# build (both backends linked; the backend is picked by
# SENSORNODE_KAFKA_BACKEND), as the load test runs them. Topics: two per
# run, named noderss-<time>-*, created by the services
# (SENSORNODE_CREATE_TOPICS) and left on the devstack.
#
# NODE_RSS_BACKENDS picks the backends (default "confluent franz");
# NODE_RSS_ENV adds KEY=V words to all four processes' environment
# (GOMEMLIMIT=24MiB).
# Under load (NODE_RSS_BURST=N, NODE_RSS_BURST_BYTES=B, default 230000:
# a 1280x720 picture): after the rest samples, each round resets the
# processes' peak RSS (/proc/PID/clear_refs), moves N pictures of B bytes
# (JPEG markers around random bytes) at once (staged, then renamed) into both camera directories (the separate camera-producer's
# and node-agent's: the load test's producer drain, on one node) and waits
# until both are empty. It prints per round the peak RSS during the drain
# (VmHWM, which sees a peak between samples) of node-agent, of the separate
# camera-producer, and the sum of the three separate processes' peaks (an
# upper bound of their summed peak), and each one's drain time.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
rounds=${1:-3}
settle=${2:-15}
sample=${3:-20}
backends=${NODE_RSS_BACKENDS:-confluent franz}
extra_env=${NODE_RSS_ENV:-}
burst=${NODE_RSS_BURST:-0}
burst_bytes=${NODE_RSS_BURST_BYTES:-230000}
: "${SENSORNODE_DEVSTACK_DIR:?set SENSORNODE_DEVSTACK_DIR to the running devstack}"

work=$(mktemp -d /tmp/node-rss.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building into $work/bin ..." >&2
for s in camera-producer temp-producer master-watcher node-agent; do
  go build -trimpath -o "$work/bin/$s" "./services/$s/cmd/$s"
done
go build -o "$work/bin/devstack" ./tools/devstack/cmd/devstack
eval "$("$work/bin/devstack" env -dir "$SENSORNODE_DEVSTACK_DIR" | grep -E 'EDGE_BROKERS|ZOOKEEPER_CONNECT')"
brokers=$SENSORNODE_DEVSTACK_EDGE_BROKERS
zk=$SENSORNODE_DEVSTACK_ZOOKEEPER_CONNECT
masters=$zk # TCP probes: the ZooKeeper client ports answer
run=noderss-$(date -u +%Y%m%dT%H%M%S)

# rss_kib PID: VmRSS in KiB (0 once gone).
rss_kib() { awk '/^VmRSS:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# hwm_kib PID: VmHWM (peak RSS since the start or the last reset) in KiB.
hwm_kib() { awk '/^VmHWM:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# drain_burst DIR_SEP DIR_COMB: resets the four processes' peaks, moves
# $burst pictures into both directories at once (staged in $work, then
# renamed), waits until both are empty and prints
# "agent_peak cam_peak sep_sum_peak sep_seconds comb_seconds" (MiB, s).
drain_burst() {
  local sep=$1 comb=$2 p i name t0 ts=0 tc=0 now
  for p in "${pids[@]}"; do echo 5 >"/proc/$p/clear_refs"; done
  # A JPEG as far as the producer checks: SOI marker, random bytes, EOI.
  { printf '\xff\xd8\xff'; head -c $((burst_bytes - 5)) /dev/urandom; printf '\xff\xd9'; } >"$work/picture"
  rm -rf "$work/stage-sep" "$work/stage-comb"
  mkdir -p "$work/stage-sep" "$work/stage-comb"
  for i in $(seq 1 "$burst"); do
    name=C1-20261207120000-$(printf '%03d-%06d' $((i % 1000)) "$i").jpg
    cp "$work/picture" "$work/stage-sep/$name"
    cp "$work/picture" "$work/stage-comb/$name"
  done
  # All at once (renames on one filesystem), as the load test drops its
  # backlog: the producers find a backlog, not a trickle.
  t0=$(date +%s.%N)
  find "$work/stage-sep" -type f -exec mv -t "$sep" {} + &
  find "$work/stage-comb" -type f -exec mv -t "$comb" {} +
  wait $!
  for _ in $(seq 1 1200); do
    now=$(date +%s.%N)
    [ "$ts" = 0 ] && [ -z "$(ls -A "$sep" | grep -v '^\.' || true)" ] && ts=$(awk -v a="$now" -v b="$t0" 'BEGIN { print a - b }')
    [ "$tc" = 0 ] && [ -z "$(ls -A "$comb" | grep -v '^\.' || true)" ] && tc=$(awk -v a="$now" -v b="$t0" 'BEGIN { print a - b }')
    [ "$ts" != 0 ] && [ "$tc" != 0 ] && break
    sleep 0.1
  done
  local s=0
  for p in "${pids[@]:0:3}"; do s=$((s + $(hwm_kib "$p"))); done
  if [ -n "$(find "$sep/.quarantine" "$comb/.quarantine" -type f 2>/dev/null | head -1)" ]; then
    echo "pictures were quarantined (see $sep/../*.log): the drain is not measured" >&2
    exit 1
  fi
  awk -v a="$(hwm_kib "${pids[3]}")" -v c="$(hwm_kib "${pids[0]}")" -v s="$s" -v ts="$ts" -v tc="$tc" \
    'BEGIN { printf "%.1f %.1f %.1f %.1f %.1f\n", a/1024, c/1024, s/1024, ts, tc }'
}

declare -A sep_mean sep_peak comb_mean comb_peak load_agent load_cam load_sep load_tsep load_tcomb
for backend in $backends; do
  for r in $(seq 1 "$rounds"); do
    dir=$work/$backend-$r
    mkdir -p "$dir/camera"
    common=(env -i PATH="$PATH" HOME="$HOME" SENSORNODE_NODE_ID=node3 SENSORNODE_KAFKA_BROKERS="$brokers"
      SENSORNODE_KAFKA_BACKEND="$backend" SENSORNODE_CREATE_TOPICS=true SENSORNODE_TOPIC_REPLICATION_FACTOR=3
      SENSORNODE_LOG_LEVEL=warn $extra_env)
    cam_env=(SENSORNODE_DIR="$dir/camera" SENSORNODE_SOURCE=directory SENSORNODE_TOPIC="$run-pictures")
    temp_env=(SENSORNODE_SOURCE=synthetic SENSORNODE_TOPIC="$run-temps")
    mw_env=(SENSORNODE_MASTERS="$masters" SENSORNODE_PROBE_MODE=tcp SENSORNODE_NODE_NAME="$run-$backend-$r"
      SENSORNODE_ZOOKEEPER_SERVERS="$zk" SENSORNODE_ZOOKEEPER_VIEW_PATH="/sensornode-test/$run/masters")
    pids=()
    "${common[@]}" "${cam_env[@]}" SENSORNODE_ADMIN_ADDR=127.0.0.1:0 "$work/bin/camera-producer" >"$dir/cam.log" 2>&1 &
    pids+=($!)
    "${common[@]}" "${temp_env[@]}" SENSORNODE_ADMIN_ADDR=127.0.0.1:0 "$work/bin/temp-producer" >"$dir/temp.log" 2>&1 &
    pids+=($!)
    "${common[@]}" "${mw_env[@]}" SENSORNODE_ADMIN_ADDR=127.0.0.1:0 SENSORNODE_NODE_NAME="$run-$backend-$r-sep" \
      "$work/bin/master-watcher" >"$dir/mw.log" 2>&1 &
    pids+=($!)
    # The combined process: the same variables, scoped where the two
    # producers read one name for different things.
    mkdir -p "$dir/camera2"
    "${common[@]}" SENSORNODE_ADMIN_ADDR=127.0.0.1:0 SENSORNODE_DIR="$dir/camera2" \
      SENSORNODE_CAMERA_PRODUCER_SOURCE=directory SENSORNODE_CAMERA_PRODUCER_TOPIC="$run-pictures" \
      SENSORNODE_TEMP_PRODUCER_SOURCE=synthetic SENSORNODE_TEMP_PRODUCER_TOPIC="$run-temps" \
      SENSORNODE_MASTERS="$masters" SENSORNODE_PROBE_MODE=tcp SENSORNODE_NODE_NAME="$run-$backend-$r-comb" \
      SENSORNODE_ZOOKEEPER_SERVERS="$zk" SENSORNODE_ZOOKEEPER_VIEW_PATH="/sensornode-test/$run/masters" \
      "$work/bin/node-agent" >"$dir/agent.log" 2>&1 &
    pids+=($!)
    sleep "$settle"
    for p in "${pids[@]}"; do
      kill -0 "$p" 2>/dev/null || { echo "process $p exited early; logs in $dir:" >&2; tail -5 "$dir"/*.log >&2; exit 1; }
    done
    read -r sm sp cm cp < <(
      for _ in $(seq 1 "$sample"); do
        s=0; for p in "${pids[@]:0:3}"; do s=$((s + $(rss_kib "$p"))); done
        echo "$s $(rss_kib "${pids[3]}")"
        sleep 1
      done | awk '{ s += $1; c += $2; n++; if ($1 > sp) sp = $1; if ($2 > cp) cp = $2 }
        END { printf "%.1f %.1f %.1f %.1f\n", s/n/1024, sp/1024, c/n/1024, cp/1024 }')
    sep_mean[$backend]+="$sm "; sep_peak[$backend]+="$sp "
    comb_mean[$backend]+="$cm "; comb_peak[$backend]+="$cp "
    printf '%-9s round %d: three processes mean %6.1f MiB peak %6.1f | node-agent mean %6.1f MiB peak %6.1f\n' \
      "$backend" "$r" "$sm" "$sp" "$cm" "$cp"
    if [ "$burst" -gt 0 ]; then
      read -r ap cpk ssum tsec tcomb < <(drain_burst "$dir/camera" "$dir/camera2")
      load_agent[$backend]+="$ap "; load_cam[$backend]+="$cpk "; load_sep[$backend]+="$ssum "
      load_tsep[$backend]+="$tsec "; load_tcomb[$backend]+="$tcomb "
      printf '%-9s round %d: drain of %d pictures of %d bytes: node-agent peak %6.1f MiB (%.1f s) | camera-producer peak %6.1f MiB, three processes %6.1f (%.1f s)\n' \
        "$backend" "$r" "$burst" "$burst_bytes" "$ap" "$tcomb" "$cpk" "$ssum" "$tsec"
    fi
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2 }'; }
echo
echo "medians of $rounds rounds (settle ${settle}s, ${sample} samples, one a second):"
printf '| backend | three processes: mean | peak | node-agent: mean | peak | ratio of means |\n|---|---|---|---|---|---|\n'
for backend in $backends; do
  sm=$(median <<<"${sep_mean[$backend]}"); sp=$(median <<<"${sep_peak[$backend]}")
  cm=$(median <<<"${comb_mean[$backend]}"); cp=$(median <<<"${comb_peak[$backend]}")
  printf '| %s | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %.2fx |\n' "$backend" "$sm" "$sp" "$cm" "$cp" "$(awk -v a="$cm" -v b="$sm" 'BEGIN { print a / b }')"
done
if [ "$burst" -gt 0 ]; then
  echo
  echo "under load, medians of $rounds rounds: drain of $burst pictures of $burst_bytes bytes, peak RSS (VmHWM) during it:"
  printf '| backend | node-agent peak | drain s | camera-producer peak | three processes, sum of peaks | drain s |\n|---|---|---|---|---|---|\n'
  for backend in $backends; do
    printf '| %s | %.1f MiB | %.1f | %.1f MiB | %.1f MiB | %.1f |\n' "$backend" "$(median <<<"${load_agent[$backend]}")" \
      "$(median <<<"${load_tcomb[$backend]}")" "$(median <<<"${load_cam[$backend]}")" "$(median <<<"${load_sep[$backend]}")" \
      "$(median <<<"${load_tsep[$backend]}")"
  done
fi
