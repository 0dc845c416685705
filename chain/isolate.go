package chain

import (
	"context"

	"github.com/chainrun/chainrun/socks"
)

// isolationKey carries a connection's isolation credentials in a context.
type isolationKey struct{}

// WithIsolation returns ctx carrying auth, the SOCKS5 credentials that keep
// a connection apart from others on the chain's last hop: Tor's
// IsolateSOCKSAuth (on by default) puts streams with different credentials
// on different circuits. They are sent only to a last hop that speaks
// SOCKS5 and has no credentials of its own (which stay as configured).
func WithIsolation(ctx context.Context, auth *socks.Auth) context.Context {
	if auth == nil {
		return ctx
	}
	return context.WithValue(ctx, isolationKey{}, auth)
}

// isolated is the last hop as it is asked: with the isolation credentials
// of ctx when they apply.
func isolated(ctx context.Context, hop *Proxy) *Proxy {
	auth, _ := ctx.Value(isolationKey{}).(*socks.Auth)
	if auth == nil || hop.Auth != nil || (hop.Scheme != SOCKS5 && hop.Scheme != SOCKS5H) {
		return hop
	}
	h := *hop
	h.Auth = auth
	return &h
}
