package testnet

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TargetPage is the text that the target's /index.html contains.
const TargetPage = "chainrun-target-ok"

// StartHTTPTarget starts an HTTP server (the fixture program "target") in the
// target namespace, listening on TargetIP:port and [TargetIP6]:port, and waits
// until both accept connections. It serves a fresh directory holding
// /index.html, whose body contains [TargetPage], and /big.bin, bigSize random
// bytes (bigSize may be 0). It returns the lowercase hex SHA-256 of big.bin.
// The server logs each request on its output as
// "request GET /index.html from 10.78.0.1:PORT".
func (tp *Topology) StartHTTPTarget(t testing.TB, port int, bigSize int64) (bigSHA256 string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"),
		[]byte("<html><body>"+TargetPage+"</body></html>\n"), 0o644); err != nil {
		t.Fatalf("testnet: %v", err)
	}
	sum, err := writeRandom(filepath.Join(dir, "big.bin"), bigSize)
	if err != nil {
		t.Fatalf("testnet: big.bin: %v", err)
	}
	bin := SharedPrograms().Path(t, "target")
	a4 := net.JoinHostPort(tp.TargetIP.String(), strconv.Itoa(port))
	a6 := net.JoinHostPort(tp.TargetIP6.String(), strconv.Itoa(port))
	tp.Start(t, tp.Target, bin, "-dir", dir, "-listen", a4, "-listen", a6)
	tp.WaitListen(t, tp.Target, a4)
	tp.WaitListen(t, tp.Target, a6)
	return sum
}

// writeRandom writes size pseudo-random bytes (a fresh seed each time) to
// path and returns their SHA-256 in hex.
func writeRandom(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rand.Uint32())
	}
	h := sha256.New()
	src := rand.NewChaCha8(seed)
	if _, err := io.CopyN(io.MultiWriter(f, h), src, size); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// StartMicrosocks starts microsocks (a SOCKS5 server) in the proxy namespace
// listening on ProxyClientSideIP:port, and waits until it accepts
// connections. With a non-empty user it requires username/password
// authentication (microsocks -u user -P pass). It calls [Unavailable] when
// microsocks is not installed.
func (tp *Topology) StartMicrosocks(t testing.TB, port int, user, pass string) *Proc {
	t.Helper()
	NeedCommand(t, "microsocks")
	argv := []string{"microsocks", "-i", tp.ProxyClientSideIP.String(), "-p", strconv.Itoa(port)}
	if user != "" {
		argv = append(argv, "-u", user, "-P", pass)
	}
	p := tp.Start(t, tp.Proxy, argv...)
	tp.WaitListen(t, tp.Proxy, net.JoinHostPort(tp.ProxyClientSideIP.String(), strconv.Itoa(port)))
	return p
}
