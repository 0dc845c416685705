// Package socks speaks the SOCKS protocols over an existing net.Conn, client
// and server side. It opens no sockets of its own.
package socks
