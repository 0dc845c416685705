package testnet

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSHA512Crypt checks sha512Crypt against the specification's vector and,
// when openssl is installed, against `openssl passwd -6`.
func TestSHA512Crypt(t *testing.T) {
	// From "Unix crypt using SHA-256 and SHA-512" (Drepper), default rounds.
	const want = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
	if got := sha512Crypt("Hello world!", "saltstring"); got != want {
		t.Errorf("sha512Crypt(Hello world!, saltstring) = %q, want %q", got, want)
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("no openssl: only the specification's vector checked")
		return
	}
	// Lengths around the 64-byte digest size; a salt longer than 16 is cut.
	for _, n := range []int{1, 7, 63, 64, 65, 130} { // openssl refuses an empty password
		pass := strings.Repeat("pä$", n)[:n]
		for _, salt := range []string{"ab", "0123456789abcdefXYZ"} {
			out, err := exec.Command("openssl", "passwd", "-6", "-salt", salt, pass).Output()
			if err != nil {
				t.Fatalf("openssl passwd: %v", err)
			}
			if got, want := sha512Crypt(pass, salt), strings.TrimSpace(string(out)); got != want {
				t.Errorf("sha512Crypt(%q, %q) = %q, openssl says %q", pass, salt, got, want)
			}
		}
	}
}
