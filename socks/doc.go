// Package socks speaks the SOCKS protocols over an existing net.Conn, client
// and server side. It opens no sockets of its own.
//
// The client side is one call per handshake: Connect5 runs a SOCKS5 CONNECT
// (RFC 1928, with RFC 1929 username/password) over a connection to the
// proxy and reads exactly the proxy's answers, so the connection is ready
// for the destination's bytes when it returns. Its errors map to the errno a
// connect(2) would fail with: errors.Is(err, syscall.ECONNREFUSED) and the
// like hold for failure replies (*ReplyError), refused authentication
// (*AuthError), malformed answers (*ProtocolError, EPROTO) and a proxy that
// hangs up mid-handshake (ECONNRESET).
//
// The server side is ServerHandshake5, which negotiates and returns the
// client's Request, and WriteReply5, which answers it; ReplyForError picks
// the reply for a failed dial.
package socks
