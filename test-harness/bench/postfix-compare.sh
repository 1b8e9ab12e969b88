#!/usr/bin/env bash
# filterbox against Debian's Postfix on this machine, each filtering and each
# fsyncing a message before its 250 (filterbox's queue by design, Postfix's
# cleanup by default):
#
#   filterbox         filterbox up: mta -> filter as milter (unix socket) -> manager
#   postfix+fb        Postfix smtpd with the same filterbox filter as milter
#   postfix+rspamd    Postfix smtpd with rspamd's proxy as milter (Debian's
#                     rspamd, stock config with the modules that look up DNS or
#                     the network off, one normal worker, statistics in a
#                     private redis: the setup of the reference figures in
#                     ../shared/peers)
#
# Every milter is reached over a unix socket, as filterbox's mta reaches its
# filter (over TCP, Postfix's milter client waits out a delayed ACK on each
# message: its macro packet and the next command are two small writes).
#
# The same message set for 1, 10 and 100 concurrent sessions, one message of
# SIZE bytes to one recipient per SMTP session, sent twice: by Postfix's
# smtp-source (messages/s over its wall time) and by smtp-load (messages/s
# and the p50/p99 transaction time, connect .. 250 after DATA). Everything is
# relayed to one discarding smtp-sink. Prints a table per server and session
# count, then the ratios of filterbox to each Postfix.
#
# Bounded and loopback only: every run has a time limit, every port is taken
# from the kernel, everything lives in a temporary directory removed at exit.
# Env: N (1000 messages per run; a quarter of it for 1 session), SIZE (5120).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000}; SIZE=${SIZE:-5120}
SESSIONS=(1 10 100)
RUN_LIMIT=300  # seconds per run

[ "$(id -u)" -eq 0 ] || { echo "run as root (Postfix and rspamd drop to their users)" >&2; exit 1; }
scripts/deps
# rspamd (and redis, its statistics store) only for this benchmark's third
# column, not for the tests.
command -v rspamd >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1 \
    || env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        rspamd redis-server >&2
cargo build --release --locked -p filterbox -p test-harness >&2
FB=$PWD/target/release/filterbox
LOAD=$PWD/target/release/smtp-load

WORK=$(mktemp -d /tmp/filterbox-compare.XXXXXX)
chmod 755 "$WORK"
pids=()
postfixes=()
cleanup() {
  for d in "${postfixes[@]}"; do postfix -c "$d" stop >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # wait_port PORT WHAT
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "$2 did not listen on $1" >&2; return 1
}

SINK=$(free_port)
smtp-sink -u postfix 127.0.0.1:"$SINK" 1024 > /dev/null 2>&1 &
pids+=($!)
wait_port "$SINK" smtp-sink

# The filter's DNS (SPF, DKIM, DMARC): an empty zone on loopback, answered
# at once like a local caching resolver; nothing leaves the machine.
"$PWD/target/release/dns-serve" > "$WORK/dns.addr" &
pids+=($!)
for _ in $(seq 100); do [ -s "$WORK/dns.addr" ] && break; sleep 0.1; done
DNS=$(cat "$WORK/dns.addr")

# --- filterbox, with its filter also listening on a socket for Postfix ----------
FB_SMTP=$(free_port); FB_API=$(free_port); FB_MILTER=$WORK/fb/postfix-filter.sock
mkdir -p "$WORK/fb"
cat > "$WORK/fb/system.json" <<JSON
{
  "hostname": "bench.filterbox.test",
  "manager": { "http_listen": "127.0.0.1:$FB_API" },
  "filter": { "listen": ["unix:filter.sock", "unix:$FB_MILTER"], "nameservers": ["$DNS"],
              "policy_refresh_secs": 1 },
  "mta": {
    "smtp_listen": "127.0.0.1:$FB_SMTP", "submission_listen": null, "smtps_listen": null,
    "max_connections_per_ip": 0, "connections_per_ip_per_minute": 0
  },
  "initial_data": {
    "domains": [{ "name": "example.test", "delivery": [{ "host": "127.0.0.1", "port": $SINK }] }],
    "users": [{ "address": "user@example.test" }]
  }
}
JSON
"$FB" up --data-dir "$WORK/fb" > "$WORK/fb/up.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q "ready:" "$WORK/fb/up.log" 2>/dev/null && break; sleep 0.1; done
grep -q "ready:" "$WORK/fb/up.log" || { cat "$WORK/fb/up.log" >&2; echo "filterbox did not start" >&2; exit 1; }
# The filter makes its sockets 0600 (root); the postfix user needs this one.
chmod 666 "$FB_MILTER"
# Every system delivers every message: rspamd only adds headers, so the
# bench's domain tags and holds nothing either (smtp-source's lines of X
# score near the default threshold). The policy reaches the filter within
# a second.
curl -sf -X PUT -H "Authorization: Bearer $(cat "$WORK/fb/api-token")" \
  -d '{"thresholds": {"tag": 1000, "quarantine": 1000}}' \
  "http://127.0.0.1:$FB_API/api/v1/filter-policy/domains/example.test" > /dev/null
sleep 2

# --- Postfix: a private instance relaying example.test to the sink -------------
start_postfix() {  # start_postfix NAME PORT MILTER
  local root="$WORK/$1"
  mkdir -p "$root/etc" "$root/queue" "$root/data"
  chown postfix:postfix "$root/data"
  chmod 755 "$root"
  cat > "$root/etc/main.cf" <<CF
compatibility_level = 3.6
myhostname = mx.postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = example.test
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relayhost = [127.0.0.1]:$SINK
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
queue_directory = $root/queue
data_directory = $root/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $root/maillog
maillog_file_prefixes = $root
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
default_process_limit = 200
smtpd_milters = $3
milter_protocol = 6
milter_default_action = tempfail
CF
  cat > "$root/etc/master.cf" <<CF
127.0.0.1:$2 inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
CF
  postfix -c "$root/etc" start >&2
  postfixes+=("$root/etc")
  wait_port "$2" "Postfix $1"
}

# --- rspamd: proxy in milter mode -> normal worker, no network checks ----------
start_rspamd() {  # start_rspamd PROXY_SOCKET
  local root="$WORK/rspamd" normal controller
  normal=$(free_port); controller=$(free_port)
  mkdir -p "$root/conf/local.d" "$root/conf/override.d" "$root/db" "$root/run" "$root/log"
  chown -R _rspamd:_rspamd "$root/db" "$root/run" "$root/log"
  chmod 755 "$root"
  # One scanner process (one core), as in the reference measurements
  # (../shared/peers: Debian's stock config, offline).
  printf 'bind_socket = "127.0.0.1:%s";\ncount = 1;\n' "$normal" > "$root/conf/override.d/worker-normal.inc"
  echo "bind_socket = \"127.0.0.1:$controller\";" > "$root/conf/override.d/worker-controller.inc"
  cat > "$root/conf/override.d/worker-proxy.inc" <<CF
bind_socket = "$1 mode=0666 owner=_rspamd";
milter = yes;
timeout = 120s;
upstream "local" { default = yes; hosts = "127.0.0.1:$normal"; }
count = 1;
CF
  # Off: the modules that look things up on the network, and greylisting.
  for m in arc asn dcc dkim dmarc emails fuzzy_check greylist mx_check phishing rbl \
      rspamd_update spf surbl url_redirector; do
    echo "enabled = false;" > "$root/conf/local.d/$m.conf"
  done
  printf 'helo_enabled = false;\nhostname_enabled = false;\nfrom_enabled = false;\n' \
    > "$root/conf/local.d/hfilter.conf"
  # Its statistics (Bayes, empty here) in a private redis, as in the reference.
  local redis; redis=$(free_port)
  mkdir -p "$root/redis"; chown redis:redis "$root/redis"
  setpriv --reuid=redis --regid=redis --clear-groups redis-server --bind 127.0.0.1 \
    --port "$redis" --dir "$root/redis" --save '' --appendonly no > /dev/null &
  pids+=($!)
  wait_port "$redis" "redis"
  echo "servers = \"127.0.0.1:$redis\";" > "$root/conf/local.d/redis.conf"
  # Any DNS query left goes to a dead loopback port and fails at once.
  printf 'dns { nameserver = ["127.0.0.1:%s"]; timeout = 0.2s; retransmits = 0; }\n' \
    "$(free_port)" > "$root/conf/local.d/options.inc"
  rspamd -f -u _rspamd -g _rspamd \
    --var="LOCAL_CONFDIR=$root/conf" --var="DBDIR=$root/db" \
    --var="RUNDIR=$root/run" --var="LOGDIR=$root/log" > "$root/rspamd.out" 2>&1 &
  pids+=($!)
  wait_port "$normal" "rspamd normal worker"
  for _ in $(seq 300); do [ -S "$1" ] && break; sleep 0.1; done
  [ -S "$1" ] || { echo "rspamd proxy did not listen on $1" >&2; return 1; }
  # Its regular expressions are compiled for hyperscan in the background: wait.
  for _ in $(seq 1200); do
    grep -q "regular expressions to the hyperscan tree" "$root/log/rspamd.log" 2>/dev/null && break
    sleep 0.1
  done
}

# --- the runs -------------------------------------------------------------------
declare -A RATE SRC P50 P99
measure() {  # measure NAME PORT
  local s n out t0 t1
  # Warm-up: not counted (first connections, the filter's and rspamd's caches).
  timeout "$RUN_LIMIT" "$LOAD" --server "127.0.0.1:$2" -s 10 -m 50 -l "$SIZE" > /dev/null
  for s in "${SESSIONS[@]}"; do
    n=$N; [ "$s" -eq 1 ] && n=$((N / 4))
    # smtp-source: Postfix's own load generator, messages/s over its wall time.
    t0=$(date +%s.%N)
    timeout "$RUN_LIMIT" smtp-source -s "$s" -m "$n" -l "$SIZE" -f load@sender.test \
      -t user@example.test "127.0.0.1:$2" >&2
    t1=$(date +%s.%N)
    SRC[$1,$s]=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
    # smtp-load: the same kind of message, with each transaction timed.
    out=$(timeout "$RUN_LIMIT" "$LOAD" --server "127.0.0.1:$2" -s "$s" -m "$n" -l "$SIZE") || {
      echo "$1 with $s sessions failed: $out" >&2; return 1; }
    RATE[$1,$s]=$(sed -E 's/.*msg_per_s=([0-9.]+).*/\1/' <<<"$out")
    P50[$1,$s]=$(sed -E 's/.* p50=([0-9.]+).*/\1/' <<<"$out")
    P99[$1,$s]=$(sed -E 's/.* p99=([0-9.]+).*/\1/' <<<"$out")
    printf '%-15s %3d sessions: smtp-source %5s msg/s, smtp-load %5s msg/s p50 %7s ms p99 %7s ms\n' \
      "$1" "$s" "${SRC[$1,$s]}" "${RATE[$1,$s]}" "${P50[$1,$s]}" "${P99[$1,$s]}" >&2
  done
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); N=$N SIZE=$SIZE; $(postconf -d mail_version 2>/dev/null); rspamd $(rspamd --version 2>/dev/null | awk '{print $NF}')"
measure filterbox "$FB_SMTP"

PF_PORT=$(free_port)
start_postfix postfix-fb "$PF_PORT" "unix:$FB_MILTER"
measure postfix+fb "$PF_PORT"
postfix -c "$WORK/postfix-fb/etc" stop >&2

RSPAMD=$WORK/rspamd/proxy.sock; PR_PORT=$(free_port)
start_rspamd "$RSPAMD"
start_postfix postfix-rspamd "$PR_PORT" "unix:$RSPAMD"
measure postfix+rspamd "$PR_PORT"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "x%.2f", a / b; else print "-" }'; }
echo
printf '%-8s %-15s %18s %16s %9s %9s\n' sessions server "smtp-source msg/s" "smtp-load msg/s" "p50 ms" "p99 ms"
for s in "${SESSIONS[@]}"; do
  for name in filterbox postfix+fb postfix+rspamd; do
    printf '%-8s %-15s %18s %16s %9s %9s\n' "$s" "$name" "${SRC[$name,$s]}" "${RATE[$name,$s]}" \
      "${P50[$name,$s]}" "${P99[$name,$s]}"
  done
done
echo
echo "filterbox / Postfix (msg/s by smtp-source and smtp-load; p99: below x1.00 is better):"
for s in "${SESSIONS[@]}"; do
  for other in postfix+fb postfix+rspamd; do
    printf '%3s sessions, vs %-15s msg/s %s / %s, p99 %s\n' "$s" "$other" \
      "$(ratio "${SRC[filterbox,$s]}" "${SRC[$other,$s]}")" \
      "$(ratio "${RATE[filterbox,$s]}" "${RATE[$other,$s]}")" \
      "$(ratio "${P99[filterbox,$s]}" "${P99[$other,$s]}")"
  done
done
