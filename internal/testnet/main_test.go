package testnet

import (
	"fmt"
	"os"
	"testing"
)

// progs builds the fixtures once for this test binary, in a temporary
// directory removed at the end.
var progs *Programs

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "testnet-progs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	progs = NewPrograms(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
