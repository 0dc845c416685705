package main

import (
	"context"
	"io"
)

func serveMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return exitFailure
}
