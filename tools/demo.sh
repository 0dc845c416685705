#!/usr/bin/env bash
# make demo: start `chainrun serve` and a web page on loopback, fetch the page
# with curl under `chainrun -v`, show the route, clean up.
set -euo pipefail
bin=${1:-bin/chainrun}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    [ -n "$(ss -Hltn "sport = :$1")" ] && return 0
    sleep 0.05
  done
  echo "demo: nothing listens on 127.0.0.1:$1" >&2; return 1
}
pids=()
dir=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT INT TERM

socks=$(free_port); web=$(free_port)
echo "<h1>Hello from behind the proxy</h1>" >"$dir/index.html"
"$bin" serve -v -l "127.0.0.1:$socks" >"$dir/serve.log" 2>&1 &
pids+=($!)
(cd "$dir" && exec python3 -m http.server "$web" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
wait_port "$socks"; wait_port "$web"

echo "\$ $bin -v -x socks5://127.0.0.1:$socks curl -s http://127.0.0.1:$web/"
"$bin" -v -x "socks5://127.0.0.1:$socks" curl -s "http://127.0.0.1:$web/"
sleep 0.2
echo
echo "chainrun serve's log:"
sed 's/^/    /' "$dir/serve.log"
echo
echo "curl connected to 127.0.0.1:$web; chainrun negotiated SOCKS5 with the server on"
echo "127.0.0.1:$socks on curl's own socket (see the 'via' line and the server's log)."
