#!/usr/bin/env bash
# Installs the Debian packages tortie uses at run time and in its tests (idempotent; root).
#   kernel tools: nftables, iptables, ipset, iproute2, conntrack; probes: socat, netcat, ping;
#   flow log: ulogd2 + its JSON output plugin; datastore tests: etcd-server; a C compiler for
#   native/nfnl-relay (built by npm install).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for bin in nft iptables ipset conntrack socat nc ping ip etcd ulogd cc; do command -v "$bin" >/dev/null 2>&1 || need+=("$bin"); done
# the flow-log reader needs ulogd2's JSON output plugin (a separate package)
ls /usr/lib/*/ulogd/ulogd_output_JSON.so >/dev/null 2>&1 || need+=(ulogd2-json)
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${need[*]} — run this script as root (sudo) to install them" >&2
  exit 1
fi
echo "installing system packages (missing: ${need[*]})"
apt-get update -qq
apt-get install -y -qq nftables iptables ipset iproute2 conntrack socat netcat-openbsd iputils-ping \
  etcd-server ulogd2 ulogd2-json gcc libc6-dev >/dev/null
