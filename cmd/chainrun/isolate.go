package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync/atomic"

	"github.com/chainrun/chainrun/socks"
)

// isolator makes the SOCKS5 credentials that keep connections apart on
// the last hop (Tor's IsolateSOCKSAuth: streams with different credentials
// never share a circuit). Every run has a random id of its own, so two
// commands never share circuits whatever the mode; the mode says what is
// kept apart within one run:
//
//	none        no credentials: the last hop's own policy
//	run         the whole command tree shares one identity (the default of
//	            the tor profile: a command that makes several connections —
//	            git, a package manager, a browser's processes — shows one
//	            exit to a site, while another command shows another)
//	process     each process its own
//	connection  each connection its own
//	destination each host:port its own
type isolator struct {
	mode  string
	run   string
	conns atomic.Uint64
}

// newIsolator returns the isolator of a run, or nil for mode "none".
func newIsolator(mode string) *isolator {
	if mode == "" || mode == "none" {
		return nil
	}
	var b [6]byte
	rand.Read(b[:])
	return &isolator{mode: mode, run: hex.EncodeToString(b[:])}
}

// auth is the credentials of a connection from process pid to dst ("" when
// unknown, as for a lookup).
func (i *isolator) auth(pid int, dst string) *socks.Auth {
	if i == nil {
		return nil
	}
	user := "chainrun-" + i.run
	switch {
	case i.mode == "process" && pid > 0:
		user += fmt.Sprintf("-p%d", pid)
	case i.mode == "connection":
		user += fmt.Sprintf("-c%d", i.conns.Add(1))
	case i.mode == "destination" && dst != "":
		sum := sha256.Sum256([]byte(i.run + " " + dst))
		user += "-d" + hex.EncodeToString(sum[:6])
	}
	return &socks.Auth{Username: user, Password: "chainrun"}
}
