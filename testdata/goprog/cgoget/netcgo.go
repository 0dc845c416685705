//go:build netcgo

package main

// resolver names the resolver package net uses: the netcgo tag makes it the
// C library's.
const resolver = "cgo"
