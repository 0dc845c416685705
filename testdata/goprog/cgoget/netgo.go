//go:build !netcgo

package main

// resolver names the resolver package net prefers: without the netcgo tag,
// Go's own (always so in a CGO_ENABLED=0 build).
const resolver = "go"
