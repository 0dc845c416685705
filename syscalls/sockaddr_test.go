package syscalls

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func sockaddrIn(ip [4]byte, port uint16, n int) []byte {
	b := make([]byte, n)
	binary.NativeEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], ip[:])
	return b[:n]
}

func sockaddrIn6(ip [16]byte, port uint16, scope uint32, n int) []byte {
	b := make([]byte, 28)
	binary.NativeEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[8:], ip[:])
	binary.NativeEndian.PutUint32(b[24:], scope)
	return b[:n]
}

func TestDecodeSockaddr(t *testing.T) {
	v6 := netip.MustParseAddr("fd78::2").As16()
	mapped := netip.MustParseAddr("::ffff:10.78.0.2").As16()
	ll := netip.MustParseAddr("fe80::1").As16()
	unixAddr := append([]byte{byte(unix.AF_UNIX), 0}, "/run/x.sock\x00"...)
	cases := []struct {
		name    string
		in      []byte
		family  uint16
		inet    bool
		addr    string // Addr
		dest    string // Dest
		wantErr bool
	}{
		{"v4", sockaddrIn([4]byte{10, 78, 0, 2}, 8080, 16), unix.AF_INET, true, "10.78.0.2:8080", "10.78.0.2:8080", false},
		{"v4 long", sockaddrIn([4]byte{10, 78, 0, 2}, 80, 16), unix.AF_INET, true, "10.78.0.2:80", "10.78.0.2:80", false},
		{"v4 truncated", sockaddrIn([4]byte{10, 78, 0, 2}, 80, 15), unix.AF_INET, false, "", "", true},
		{"v6", sockaddrIn6(v6, 443, 0, 28), unix.AF_INET6, true, "[fd78::2]:443", "[fd78::2]:443", false},
		{"v6 rfc2133 length", sockaddrIn6(v6, 443, 0, 24), unix.AF_INET6, true, "[fd78::2]:443", "[fd78::2]:443", false},
		{"v6 truncated", sockaddrIn6(v6, 443, 0, 23), unix.AF_INET6, false, "", "", true},
		{"v4-mapped", sockaddrIn6(mapped, 8080, 0, 28), unix.AF_INET6, true, "[::ffff:10.78.0.2]:8080", "10.78.0.2:8080", false},
		{"v6 scope", sockaddrIn6(ll, 22, 3, 28), unix.AF_INET6, true, "[fe80::1%3]:22", "[fe80::1%3]:22", false},
		{"unix", unixAddr, unix.AF_UNIX, false, "", "", false},
		{"one byte", []byte{2}, 0, false, "", "", true},
		{"empty", nil, 0, false, "", "", true},
		{"unknown family", []byte{0xff, 0xff, 1, 2, 3}, 0xffff, false, "", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sa, err := DecodeSockaddr(c.in)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if sa.Family != c.family {
				t.Errorf("family %d, want %d", sa.Family, c.family)
			}
			if sa.IsInet() != c.inet {
				t.Fatalf("IsInet = %v, want %v", sa.IsInet(), c.inet)
			}
			if !c.inet {
				return
			}
			if got := sa.Addr.String(); got != c.addr {
				t.Errorf("Addr %s, want %s", got, c.addr)
			}
			if got := sa.Dest().String(); got != c.dest {
				t.Errorf("Dest %s, want %s", got, c.dest)
			}
		})
	}
}

func FuzzDecodeSockaddr(f *testing.F) {
	f.Add(sockaddrIn([4]byte{1, 2, 3, 4}, 80, 16))
	f.Add(sockaddrIn6([16]byte{15: 1}, 80, 0, 28))
	f.Fuzz(func(t *testing.T, b []byte) {
		sa, err := DecodeSockaddr(b)
		if err == nil && sa.IsInet() && !sa.Dest().IsValid() {
			t.Fatalf("valid sockaddr with invalid destination: %v", sa)
		}
	})
}

func TestEncodeSockaddrRoundTrip(t *testing.T) {
	for _, c := range []struct {
		family int
		addr   string
		want   string // what DecodeSockaddr(...).Addr gives; "" = not encodable
	}{
		{unix.AF_INET, "10.77.0.53:53", "10.77.0.53:53"},
		{unix.AF_INET, "[::ffff:10.77.0.53]:53", "10.77.0.53:53"},
		{unix.AF_INET, "[fd77::53]:53", ""},
		{unix.AF_INET6, "10.77.0.53:53", "[::ffff:10.77.0.53]:53"},
		{unix.AF_INET6, "[fd77::53]:5353", "[fd77::53]:5353"},
		{unix.AF_UNIX, "10.77.0.53:53", ""},
	} {
		b, ok := EncodeSockaddr(c.family, netip.MustParseAddrPort(c.addr))
		if ok != (c.want != "") {
			t.Errorf("EncodeSockaddr(%d, %s): ok %v", c.family, c.addr, ok)
			continue
		}
		if !ok {
			continue
		}
		sa, err := DecodeSockaddr(b)
		if err != nil || sa.Addr.String() != c.want || int(sa.Family) != c.family {
			t.Errorf("EncodeSockaddr(%d, %s) decodes to %v %v, %v; want %s", c.family, c.addr, sa.Family, sa.Addr, err, c.want)
		}
	}
}

func TestDecodeUnixSockaddr(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want string
	}{
		{"/run/nscd/socket\x00", "/run/nscd/socket"},
		{"/run/x\x00garbage", "/run/x"},
		{"/no/nul", "/no/nul"},
		{"\x00abstract\x00name", "@abstract\x00name"},
		{"", ""},
	} {
		b := make([]byte, 2, 2+len(c.raw))
		binary.NativeEndian.PutUint16(b, unix.AF_UNIX)
		sa, err := DecodeSockaddr(append(b, c.raw...))
		if err != nil || sa.Path != c.want || sa.IsInet() {
			t.Errorf("DecodeSockaddr(AF_UNIX %q) = %+v, %v; want path %q", c.raw, sa, err, c.want)
		}
	}
}
