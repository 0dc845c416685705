package main

import (
	"errors"
	"strings"
	"testing"
)

func TestParseServeArgs(t *testing.T) {
	o, err := parseServeArgs([]string{"-l", "10.77.0.1:1082", "-u", "alice:s3:cret", "--user=bob:pw", "-v"})
	if err != nil {
		t.Fatal(err)
	}
	if o.listen != "10.77.0.1:1082" || o.users["alice"] != "s3:cret" || o.users["bob"] != "pw" || !o.verbose {
		t.Fatalf("got %+v", o)
	}
	if o, err := parseServeArgs(nil); err != nil || o.listen != "127.0.0.1:1080" || len(o.users) != 0 {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-l"}, "needs a value"},
		{[]string{"-l", "nope"}, "--listen"},
		{[]string{"-u", "alice"}, "USER:PASS"},
		{[]string{"-u", ":pw"}, "USER:PASS"},
		{[]string{"extra"}, "unknown argument"},
		{[]string{"-v", "-q"}, "contradict"},
	} {
		if _, err := parseServeArgs(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.args, err, c.want)
		}
	}
	if _, err := parseServeArgs([]string{"-h"}); !errors.Is(err, errHelp) {
		t.Errorf("-h: %v", err)
	}
}
