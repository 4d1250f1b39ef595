#!/bin/sh
# Run a command in a loopback-only network namespace where mDNS works on lo only, so nothing that
# pairs or commissions can advertise or send beyond this machine. Needs root (CI is root); as a
# normal user it falls back to a user namespace (unshare -r).
set -e
if [ "$(id -u)" = 0 ]; then flags="--net"; else flags="--net --map-root-user"; fi
exec unshare $flags sh -c '
  ip link set lo up &&
  ip link set lo multicast on &&
  ip route add 224.0.0.0/4 dev lo &&
  ip -6 route add ff00::/8 dev lo table local &&
  exec env MATTER_MDNS_NETWORKINTERFACE=lo HEARTHBRIDGE_NETNS=1 "$@"' sh "$@"
