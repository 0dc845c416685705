package fakedns

import (
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Event is what happened to one question, for -v logs.
type Event struct {
	// Name is the name as asked, without the trailing dot.
	Name string
	// Type is the question type: "A", "AAAA", "PTR", "HTTPS", "TYPE123", ….
	Type string
	// Answers are the addresses and names given, e.g. "198.18.0.7".
	Answers []string
	// How is the rule that answered: "remote" (fake), "hosts",
	// "localhost", "local", "tunnel", "tor-resolve", "nodata", "refused",
	// "notimp", "servfail", "nxdomain", "formerr" or "badvers".
	How string
	// RCode is the reply's response code: "NOERROR", "NXDOMAIN", ….
	RCode string
	// Err says why the question failed, when it did.
	Err error
	// Elapsed is how long the answer took.
	Elapsed time.Duration
}

// typeString is t as Event.Type shows it.
func typeString(t dnsmessage.Type) string {
	s := t.String()
	if rest, ok := strings.CutPrefix(s, "Type"); ok {
		if rest == "ALL" {
			return "ANY"
		}
		return rest
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// rcodeString is rc as Event.RCode shows it (RFC 6895 mnemonics).
func rcodeString(rc dnsmessage.RCode) string {
	switch rc {
	case dnsmessage.RCodeSuccess:
		return "NOERROR"
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	case rcodeBadVers:
		return "BADVERS"
	}
	return "RCODE" + strconv.Itoa(int(rc))
}

// rcodeBadVers is the extended RCode for an unsupported EDNS version.
const rcodeBadVers dnsmessage.RCode = 16
