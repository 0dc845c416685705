package testnet

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStartTor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tor")
	}
	start := time.Now()
	tor := StartTor(t)
	t.Logf("tor %s (pid %d) in %s: SocksPort %s accepts after %v", tor.Version, tor.Pid(), tor.NS, tor.SOCKS, time.Since(start).Round(time.Millisecond))

	// It speaks SOCKS5: greeting with no authentication, answered 05 00.
	c, err := tor.DialSOCKS(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte{5, 1, 0})
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil || !bytes.Equal(sel[:], []byte{5, 0}) {
		t.Fatalf("greeting answered % x, %v; want 05 00", sel, err)
	}

	// Its namespace reaches nothing but loopback.
	err = InNS(tor.NS, func() error {
		c, err := net.DialTimeout("tcp", "10.77.0.1:80", time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "network is unreachable") {
		t.Errorf("dialing 10.77.0.1:80 from tor's namespace: %v, want network is unreachable", err)
	}

	// It got as far as the fake authority and no further.
	log := tor.Log()
	if !strings.Contains(log, "Opened Socks listener") || !strings.Contains(log, "Bootstrapped 0%") {
		t.Errorf("tor's log lacks the SocksPort or the bootstrap start:\n%s", log)
	}
	if strings.Contains(log, "Bootstrapped 100%") {
		t.Errorf("an offline tor bootstrapped:\n%s", log)
	}
}

func TestRecordingSOCKS5(t *testing.T) {
	s := StartRecordingSOCKS5(t, "", "127.0.0.1:0")
	exchange := func(send, want []byte) {
		t.Helper()
		c, err := net.DialTimeout("tcp", s.Addr.String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(send)
		got, _ := io.ReadAll(c)
		if !bytes.Equal(got, want) {
			t.Errorf("sent % x, got % x, want % x", send, got, want)
		}
	}
	refusal := []byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}
	// Username/password offered: picked, any credentials accepted, the
	// CONNECT refused.
	exchange([]byte{5, 2, 0, 2, 1, 3, 'b', 'o', 'b', 2, 'p', 'w', 5, 1, 0, 3, 3, 'a', '.', 'b', 0, 80},
		append([]byte{5, 2, 1, 0}, refusal...))
	// No authentication offered.
	exchange([]byte{5, 1, 0, 5, 1, 0, 1, 10, 0, 0, 1, 1, 187}, append([]byte{5, 0}, refusal...))
	if !s.Wait(2, 5*time.Second) {
		t.Fatalf("records: %v", s.Records())
	}
	r := s.Records()
	if !r[0].UserPass || r[0].User != "bob" || r[0].Pass != "pw" || r[0].Command != 1 || r[0].Target != "a.b:80" || r[0].Err != "" {
		t.Errorf("first record: %v", r[0])
	}
	if r[1].UserPass || !bytes.Equal(r[1].Methods, []byte{0}) || r[1].Target != "10.0.0.1:443" || r[1].Err != "" {
		t.Errorf("second record: %v", r[1])
	}
}
