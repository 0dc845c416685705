package socks

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
)

func TestStrings(t *testing.T) {
	tests := []struct {
		got  interface{ String() string }
		want string
	}{
		{CmdConnect, "CONNECT"},
		{CmdBind, "BIND"},
		{CmdUDPAssociate, "UDP ASSOCIATE"},
		{CmdResolve, "RESOLVE"},
		{CmdResolvePTR, "RESOLVE_PTR"},
		{Command(9), "unknown command 0x09"},
		{Command(0xf2), "unknown command 0xf2"},
		{AuthNone, "no authentication"},
		{AuthGSSAPI, "GSS-API"},
		{AuthUsernamePassword, "username/password"},
		{AuthNoAcceptableMethods, "no acceptable methods"},
		{AuthMethod(0x80), "unknown method 0x80"},
		{StatusSucceeded, "succeeded"},
		{StatusGeneralFailure, "general SOCKS server failure"},
		{StatusNotAllowed, "connection not allowed by ruleset"},
		{StatusNetworkUnreachable, "network unreachable"},
		{StatusHostUnreachable, "host unreachable"},
		{StatusConnectionRefused, "connection refused"},
		{StatusTTLExpired, "TTL expired"},
		{StatusCommandNotSupported, "command not supported"},
		{StatusAddressTypeNotSupported, "address type not supported"},
		{StatusOnionDescNotFound, "onion service descriptor not found"},
		{StatusOnionDescInvalid, "onion service descriptor invalid"},
		{StatusOnionIntroFailed, "onion service introduction failed"},
		{StatusOnionRendezvousFailed, "onion service rendezvous failed"},
		{StatusOnionMissingClientAuth, "onion service missing client authorization"},
		{StatusOnionWrongClientAuth, "onion service wrong client authorization"},
		{StatusOnionBadAddress, "onion service invalid address"},
		{StatusOnionIntroTimedOut, "onion service introduction timed out"},
		{Reply(0x2a), "unknown reply 0x2a"},
		{Reply(0xf8), "unknown reply 0xf8"},
		{Reply(0xff), "unknown reply 0xff"},
	}
	for _, tt := range tests {
		if got := tt.got.String(); got != tt.want {
			t.Errorf("%T(%#x).String() = %q, want %q", tt.got, tt.got, got, tt.want)
		}
	}
}

func TestReplyErrno(t *testing.T) {
	tests := []struct {
		r    Reply
		want syscall.Errno
	}{
		{StatusSucceeded, 0},
		{StatusGeneralFailure, syscall.ECONNREFUSED},
		{StatusNotAllowed, syscall.ECONNREFUSED},
		{StatusNetworkUnreachable, syscall.ENETUNREACH},
		{StatusHostUnreachable, syscall.EHOSTUNREACH},
		{StatusConnectionRefused, syscall.ECONNREFUSED},
		{StatusTTLExpired, syscall.ETIMEDOUT},
		{StatusCommandNotSupported, syscall.EOPNOTSUPP},
		{StatusAddressTypeNotSupported, syscall.EAFNOSUPPORT},
		{StatusOnionDescNotFound, syscall.EHOSTUNREACH},
		{StatusOnionDescInvalid, syscall.EHOSTUNREACH},
		{StatusOnionIntroFailed, syscall.EHOSTUNREACH},
		{StatusOnionRendezvousFailed, syscall.EHOSTUNREACH},
		{StatusOnionMissingClientAuth, syscall.EACCES},
		{StatusOnionWrongClientAuth, syscall.EACCES},
		{StatusOnionBadAddress, syscall.EINVAL},
		{StatusOnionIntroTimedOut, syscall.ETIMEDOUT},
		{Reply(0xef), syscall.ECONNREFUSED},
		{Reply(0xf8), syscall.ECONNREFUSED},
		{Reply(0x09), syscall.ECONNREFUSED},
		{Reply(0x2a), syscall.ECONNREFUSED},
		{Reply(0xff), syscall.ECONNREFUSED},
	}
	for _, tt := range tests {
		if got := tt.r.Errno(); got != tt.want {
			t.Errorf("Reply(%#x).Errno() = %v, want %v", byte(tt.r), got, tt.want)
		}
	}
}

func TestAddrString(t *testing.T) {
	tests := []struct {
		a    Addr
		want string
	}{
		{Addr{IP: netip.MustParseAddr("1.2.3.4"), Port: 80}, "1.2.3.4:80"},
		{Addr{IP: netip.MustParseAddr("::1"), Port: 80}, "[::1]:80"},
		{Addr{IP: netip.MustParseAddr("fe80::1%eth0"), Port: 22}, "[fe80::1%eth0]:22"},
		{Addr{Name: "example.com", Port: 443}, "example.com:443"},
		{Addr{Name: "example.com", IP: netip.MustParseAddr("1.2.3.4"), Port: 443}, "example.com:443"},
		{Addr{Port: 9}, ":9"},
		{Addr{}, ":0"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.a, got, tt.want)
		}
	}
	if got := (Addr{}).Network(); got != "socks" {
		t.Errorf("Network() = %q, want socks", got)
	}
}

func TestAddrFromAddrPort(t *testing.T) {
	tests := []struct {
		in   string
		want Addr
	}{
		{"1.2.3.4:80", Addr{IP: netip.MustParseAddr("1.2.3.4"), Port: 80}},
		{"[::ffff:1.2.3.4]:80", Addr{IP: netip.MustParseAddr("1.2.3.4"), Port: 80}},
		{"[2001:db8::1]:443", Addr{IP: netip.MustParseAddr("2001:db8::1"), Port: 443}},
	}
	for _, tt := range tests {
		got := AddrFromAddrPort(netip.MustParseAddrPort(tt.in))
		if got != tt.want {
			t.Errorf("AddrFromAddrPort(%s) = %#v, want %#v", tt.in, got, tt.want)
		}
		if !got.IP.Is4() && tt.want.IP.Is4() {
			t.Errorf("AddrFromAddrPort(%s) did not unmap", tt.in)
		}
	}
}

func TestReply4(t *testing.T) {
	tests := []struct {
		r     Reply4
		text  string
		errno syscall.Errno
	}{
		{Status4Granted, "request granted", 0},
		{Status4Rejected, "request rejected or failed", syscall.ECONNREFUSED},
		{Status4NoIdentd, "request rejected because SOCKS server cannot connect to identd on the client", syscall.EACCES},
		{Status4IdentMismatch, "request rejected because the client program and identd report different user-ids", syscall.EACCES},
		{Reply4(0x00), "unknown reply 0x00", syscall.ECONNREFUSED},
		{Reply4(0x59), "unknown reply 0x59", syscall.ECONNREFUSED},
		{Reply4(0x5e), "unknown reply 0x5e", syscall.ECONNREFUSED},
		{Reply4(0xff), "unknown reply 0xff", syscall.ECONNREFUSED},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.text {
			t.Errorf("Reply4(%#x).String() = %q, want %q", byte(tt.r), got, tt.text)
		}
		if got := tt.r.Errno(); got != tt.errno {
			t.Errorf("Reply4(%#x).Errno() = %v, want %v", byte(tt.r), got, tt.errno)
		}
		err := error(&Reply4Error{Reply: tt.r})
		if tt.errno != 0 && !errors.Is(err, tt.errno) {
			t.Errorf("Reply4Error{%#x} does not match %v", byte(tt.r), tt.errno)
		}
		if tt.errno == 0 && errors.Unwrap(err) != nil {
			t.Errorf("Reply4Error{%#x} unwraps to %v", byte(tt.r), errors.Unwrap(err))
		}
	}
}
