// Package socks speaks the SOCKS protocols over an existing net.Conn, client
// and server side: SOCKS4, SOCKS4a and SOCKS5. It opens no sockets of its
// own.
//
// The client side is one call per handshake: Connect5 runs a SOCKS5 CONNECT
// (RFC 1928, with RFC 1929 username/password) and Connect4 a SOCKS4 CONNECT
// (SOCKS4a when the destination is a name) over a connection to the proxy.
// Both read exactly the proxy's answers, so the connection is ready for the
// destination's bytes when they return. Their errors map to the errno a
// connect(2) would fail with: errors.Is(err, syscall.ECONNREFUSED) and the
// like hold for failure replies (*ReplyError, *Reply4Error), refused
// authentication (*AuthError), malformed answers (*ProtocolError, EPROTO)
// and a proxy that hangs up mid-handshake (ECONNRESET).
//
// Resolve5 and ResolvePTR5 speak Tor's SOCKS5 extensions RESOLVE and
// RESOLVE_PTR (Tor's socks-extensions.txt): the proxy looks a name or an
// address up and answers in the reply, with no connection made. Tor's
// extended onion service reply codes (proposal 304, StatusOnionDescNotFound
// and the like) have their own strings and errnos.
//
// The server side is ServerHandshake, which reads the version byte,
// negotiates in that version and returns the client's Request, and
// WriteReply, which answers it in the same version; ServerHandshake5 and
// WriteReply5 are the SOCKS5-only forms. ReplyForError picks the reply for
// a failed dial.
package socks
