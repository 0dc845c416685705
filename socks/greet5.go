package socks

import (
	"context"
	"net"

	"github.com/chainrun/chainrun/internal/handshake"
)

// Greet5 runs the first half of a SOCKS5 handshake over conn, which is
// already connected to the proxy: the greeting and, when the proxy picks
// it, the username/password authentication (RFC 1929), exactly as Connect5
// does before its request. It returns the method the proxy chose. No
// request follows: the proxy is left waiting for one, and conn is of no
// further use but to be closed. `chainrun check` uses it to prove that a
// hop speaks SOCKS5 and accepts the credentials, without asking it to
// connect anywhere.
//
// Offered methods, context handling and errors are those of Connect5: a
// proxy that accepts none of the offered methods or rejects the
// credentials is an *AuthError (ErrAuth, syscall.ECONNREFUSED), an answer
// that is not SOCKS5 a *ProtocolError (syscall.EPROTO), and a username or
// password longer than 255 bytes fails with an error that matches
// syscall.EINVAL before anything is sent. Greet5 never closes conn.
func Greet5(ctx context.Context, conn net.Conn, auth *Auth) (AuthMethod, error) {
	var method AuthMethod
	err := handshake.Run(ctx, conn, proto5, func() (err error) {
		method, err = greet5(conn, auth)
		return err
	})
	if err != nil {
		return 0, err
	}
	return method, nil
}
