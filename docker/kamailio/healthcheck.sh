#!/bin/bash
# Container health check: does Kamailio answer SIP OPTIONS on 127.0.0.1:PORT (default 5060)?
# Bash's /dev/udp, since the image has no SIP tools. Datagrams need one write and one read
# each (bash's printf writes line by line, its read takes one byte of a datagram and drops
# the rest), hence the file and head.
set -u
port="${1:-5060}"
request="$(mktemp)"
trap 'rm -f "$request"' EXIT
printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKhealth%s;rport\r\nFrom: <sip:health@127.0.0.1>;tag=%s\r\nTo: <sip:127.0.0.1:%s>\r\nCall-ID: health-%s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n' \
  "$port" "$$$RANDOM" "$$" "$port" "$$$RANDOM" > "$request"
exec 3<>"/dev/udp/127.0.0.1/$port" || exit 1
cat "$request" >&3 || exit 1
status="$(timeout 3 head -c 11 <&3 2>/dev/null)"
[ "$status" = "SIP/2.0 200" ]
