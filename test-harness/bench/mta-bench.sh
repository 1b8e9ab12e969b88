#!/usr/bin/env bash
# The whole mail path on loopback, measured like the peers in
# ../shared/peers/04_mta_bench.sh: load -> filterbox up (release build: mta,
# filter as milter over a unix socket, manager) -> Postfix's smtp-sink.
#
# Prints, per load generator:
#   accept msg/s   messages / load-generator wall time (250 after DATA = fsynced)
#   e2e msg/s      messages / time until the sink has received them all
#   latency        p50/p90/p99 of connect..final reply (smtp-load only)
#   cpu ms/msg     busy jiffies of the whole machine over the run (like the peers)
# and the resident memory of each role, idle and after the runs.
# Env: N (2000 messages), S (10 sessions), SIZE (5120 bytes), PORT (12525).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-2000}; S=${S:-10}; SIZE=${SIZE:-5120}
PORT=${PORT:-12525}; SINK=$((PORT + 1)); API=$((PORT + 2))

scripts/deps
cargo build --release --locked -p filterbox -p test-harness >&2
FB=$PWD/target/release/filterbox
LOAD=$PWD/target/release/smtp-load

WORK=$(mktemp -d /tmp/filterbox-bench.XXXXXX)
chmod 755 "$WORK"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The filter's DNS (SPF, DKIM, DMARC): an empty zone on loopback, answered
# at once like a local caching resolver; nothing leaves the machine.
"$PWD/target/release/dns-serve" > "$WORK/dns.addr" &
pids+=($!)
for _ in $(seq 100); do [ -s "$WORK/dns.addr" ] && break; sleep 0.1; done
DNS=$(cat "$WORK/dns.addr")

cat > "$WORK/system.json" <<JSON
{
  "hostname": "bench.filterbox.test",
  "manager": { "http_listen": "127.0.0.1:$API" },
  "filter": { "nameservers": ["$DNS"] },
  "mta": { "smtp_listen": "127.0.0.1:$PORT", "submission_listen": null, "smtps_listen": null,
           "max_connections_per_ip": 0, "connections_per_ip_per_minute": 0 },
  "initial_data": {
    "domains": [{ "name": "example.test", "delivery": [{ "host": "127.0.0.1", "port": $SINK }] }],
    "users": [{ "address": "user@example.test" }]
  }
}
JSON

"$FB" up --data-dir "$WORK" > "$WORK/up.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q "ready:" "$WORK/up.log" 2>/dev/null && break; sleep 0.1; done
grep -q "ready:" "$WORK/up.log" || { cat "$WORK/up.log"; echo "filterbox did not start" >&2; exit 1; }

rss() {  # the resident memory of each role, in MiB
  local out=""
  for role in manager filter mta; do
    for p in $(pgrep -f "filterbox $role --data-dir $WORK" || true); do
      out+=" $role=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$p/status)MiB"
    done
  done
  echo "rss${out}"
}
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8; exit}' /proc/stat; }

# sink N: a discarding smtp-sink that exits after N messages
sink() {
  smtp-sink -u postfix -M "$1" 127.0.0.1:$SINK 512 > /dev/null 2>&1 &
  SINKPID=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$SINK) 2>/dev/null && break; sleep 0.05; done
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); N=$N S=$S SIZE=$SIZE"
echo "idle $(rss)"

# Warm-up: 50 messages, not counted.
sink 50
smtp-source -s "$S" -m 50 -l "$SIZE" -f load@sender.test -t user@example.test 127.0.0.1:$PORT
wait "$SINKPID" || true

run() {  # run NAME COMMAND...
  local name=$1; shift
  sink "$N"
  local b0 t0 t1 t2 b1 hz out
  hz=$(getconf CLK_TCK); b0=$(busy); t0=$(date +%s.%N)
  out=$("$@")
  t1=$(date +%s.%N)
  wait "$SINKPID" || true
  t2=$(date +%s.%N); b1=$(busy)
  awk -v n="$N" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v b="$((b1 - b0))" -v hz="$hz" -v name="$name" 'BEGIN {
    printf "%s: accept %.0f msg/s, end-to-end %.0f msg/s (%.2f s), cpu %.2f ms/msg, %.2f cores busy\n",
      name, n/(t1-t0), n/(t2-t0), t2-t0, 1000*(b/hz)/n, (b/hz)/(t2-t0) }'
  if [ -n "$out" ]; then echo "  $out"; fi
}

run "smtp-source" smtp-source -s "$S" -m "$N" -l "$SIZE" -f load@sender.test -t user@example.test 127.0.0.1:$PORT
run "smtp-load" "$LOAD" --server 127.0.0.1:$PORT -s "$S" -m "$N" -l "$SIZE"
echo "after $(rss)"
