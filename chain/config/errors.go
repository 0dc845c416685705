package config

import (
	"fmt"
	"strings"
)

// Error is a problem with a configuration file, with its place.
type Error struct {
	File      string // the file's name as given
	Line, Col int    // 1-based; 0 when unknown
	Key       string // the dotted key, e.g. "profiles.corp.chain"
	Msg       string
}

// Error reads like "proxychains.toml:12:5: profiles.corp.chain: unknown
// proxy "jmp" (did you mean "jump"?)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// suggest returns ` (did you mean "x"?)` for the candidate closest to s,
// when one is close enough to be a likely typo.
func suggest(s string, candidates []string) string {
	best, bestDist := "", 1<<30
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > max(2, len(s)/3) || bestDist >= len(s) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// locate finds where key (dotted path) is defined in TOML text, for error
// messages about keys and values that toml's own errors cannot place
// (unknown keys, references between tables). It follows [table] and
// [[array]] headers and bare or dotted keys at line start; it does not
// parse values. When needle is not empty, the column is that of needle's
// first occurrence on the line; nth picks among repeated definitions (the
// tables of an array of tables). It returns 0, 0 when it cannot tell.
func locate(text, key, needle string, nth int) (line, col int) {
	table := ""
	seen := 0
	for i, raw := range strings.Split(text, "\n") {
		s := strings.TrimSpace(raw)
		if s == "" || s[0] == '#' {
			continue
		}
		if strings.HasPrefix(s, "[") {
			h := strings.Trim(strings.SplitN(s, "#", 2)[0], " \t[]")
			table = strings.TrimSpace(h)
			if table == key {
				if seen == nth {
					return i + 1, strings.Index(raw, "[") + 1
				}
				seen++
			}
			continue
		}
		k, _, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		full := strings.TrimSpace(k)
		if table != "" {
			full = table + "." + full
		}
		if full != key {
			continue
		}
		if seen < nth {
			seen++
			continue
		}
		col = strings.Index(raw, strings.TrimSpace(k)) + 1
		if needle != "" {
			if c := strings.Index(raw, needle); c >= 0 {
				col = c + 1
			}
		}
		return i + 1, col
	}
	return 0, 0
}
