package fakedns

// normalizeName returns name in ASCII lower case without its trailing dot,
// and whether it is a name a proxy can be handed: 1 to 253 bytes of
// printable ASCII, labels of 1 to 63 bytes. It allocates only when name
// has upper case letters.
func normalizeName(name string) (string, bool) {
	if len(name) > 0 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	if len(name) == 0 || len(name) > 253 || name[0] == '.' {
		return "", false
	}
	upper := false
	label := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c < 0x21 || c > 0x7e:
			return "", false
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		case 'A' <= c && c <= 'Z':
			upper = true
		}
		if label++; label > 63 {
			return "", false
		}
	}
	if !upper {
		return name, true
	}
	b := []byte(name)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b), true
}

// fnv1a64 is the 64-bit FNV-1a hash of s.
func fnv1a64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finaliser: it spreads every bit of h over the
// low bits that the modulo keeps.
func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
