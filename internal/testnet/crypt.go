package testnet

import (
	"crypto/sha512"
	"strings"
)

// cryptAlphabet is crypt(3)'s base-64 alphabet.
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// sha512Crypt returns the SHA-512 crypt(3) hash of password ("$6$salt$…",
// the default 5000 rounds) as written in /etc/shadow, following Ulrich
// Drepper's "Unix crypt using SHA-256 and SHA-512". The salt is cut to 16
// characters and must not contain '$'. It exists so that a test can write a
// shadow file for a throwaway account without the openssl or mkpasswd
// programs.
func sha512Crypt(password, salt string) string {
	const rounds = 5000
	if len(salt) > 16 {
		salt = salt[:16]
	}
	p, s := []byte(password), []byte(salt)

	// Digest B: password, salt, password.
	hb := sha512.New()
	hb.Write(p)
	hb.Write(s)
	hb.Write(p)
	b := hb.Sum(nil)

	// Digest A.
	ha := sha512.New()
	ha.Write(p)
	ha.Write(s)
	n := len(p)
	for ; n > 64; n -= 64 {
		ha.Write(b)
	}
	ha.Write(b[:n])
	for n = len(p); n > 0; n >>= 1 {
		if n&1 != 0 {
			ha.Write(b)
		} else {
			ha.Write(p)
		}
	}
	a := ha.Sum(nil)

	// P sequence: digest DP (the password len(p) times), stretched to len(p).
	hdp := sha512.New()
	for i := 0; i < len(p); i++ {
		hdp.Write(p)
	}
	pseq := stretch(hdp.Sum(nil), len(p))

	// S sequence: digest DS (the salt 16+a[0] times), stretched to len(s).
	hds := sha512.New()
	for i := 0; i < 16+int(a[0]); i++ {
		hds.Write(s)
	}
	sseq := stretch(hds.Sum(nil), len(s))

	c := a
	for i := 0; i < rounds; i++ {
		h := sha512.New()
		if i&1 != 0 {
			h.Write(pseq)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sseq)
		}
		if i%7 != 0 {
			h.Write(pseq)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(pseq)
		}
		c = h.Sum(nil)
	}

	var out strings.Builder
	out.WriteString("$6$" + salt + "$")
	enc := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for ; n > 0; n-- {
			out.WriteByte(cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	for i := 0; i < 21; i++ {
		// The permutation of the specification: (0,21,42), (22,43,1), (44,2,23), …
		x := [3]int{i, i + 21, i + 42}
		switch i % 3 {
		case 1:
			x = [3]int{i + 21, i + 42, i}
		case 2:
			x = [3]int{i + 42, i, i + 21}
		}
		enc(c[x[0]], c[x[1]], c[x[2]], 4)
	}
	enc(0, 0, c[63], 2)
	return out.String()
}

// stretch repeats digest d to exactly n bytes.
func stretch(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		k := n - len(out)
		if k > len(d) {
			k = len(d)
		}
		out = append(out, d[:k]...)
	}
	return out
}
