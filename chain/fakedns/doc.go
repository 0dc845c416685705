// Package fakedns is chainrun's remote DNS: the resolver that answers the
// DNS queries the tracer redirects from a traced program, the pool of fake
// addresses it hands out, and the loopback listeners the program's DNS
// sockets are pointed at.
//
// A program that asks for example.com gets a fake address from a reserved
// range (198.18.0.0/15 and fd63:6861:696e::/64 by default). When it later
// connects to that address, the proxy is handed the name, so the name is
// resolved at the far end of the chain and no query leaves this machine.
//
// # Answer policy
//
// Every reply echoes the query's ID, question and RD bit, and sets QR and
// RA. A query with QDCOUNT other than 1, or a question that does not parse,
// gets FORMERR; an opcode other than QUERY gets NOTIMP; a class other than
// IN gets REFUSED; an EDNS version above 0 gets BADVERS. A query that carries
// an EDNS OPT record gets one back (UDP size 1232). A message that is not a
// query (shorter than a header, or with QR set) is dropped. Owner names in
// answers are the question name exactly as asked, case preserved.
//
// A question is answered by the first rule that matches it:
//
//  1. "localhost" and "*.localhost": A 127.0.0.1, AAAA ::1, other types
//     NODATA, in every mode ("localhost").
//  2. Names in the hosts file: A gets the file's IPv4 addresses, AAAA its
//     IPv6 ones, NODATA when the name is there with the other family only
//     ("hosts"). Other types go on to the next rules.
//  3. PTR: an address inside the fake pools gets the name it stands for,
//     NXDOMAIN when it is unmapped ("remote"); an address in the hosts file
//     gets its first name ("hosts"); a loopback address gets "localhost".
//  4. Names ending in ".onion": A and AAAA get fake addresses in every mode
//     (Tor resolves them at the far end), other types NODATA. Such a name is
//     never sent anywhere.
//  5. Names for which Config.Local is true: the query is forwarded as it is
//     to this machine's nameservers ("local").
//  6. The mode:
//     - remote: A gets a fake IPv4, AAAA a fake IPv6 (NODATA when IPv6 is
//     disabled), with the pool's TTL ("remote"). HTTPS and SVCB get NODATA,
//     so that clients fall back to A/AAAA. Any other type (MX, TXT, SRV,
//     PTR of a real address, ANY, …) goes through the tunnel when a DNS
//     server is configured ("tunnel"), else gets NODATA ("nodata (no
//     dns_server)"): clients then behave as for a name without such
//     records (host(1) prints its A and AAAA lines and succeeds, mail falls
//     back to the A record, apt does without SRV), where REFUSED made them
//     fail. A full pool gives SERVFAIL.
//     - tunnel: everything goes through the tunnel, a DNS-over-TCP
//     connection through the proxy chain ("tunnel"); without a configured
//     server, SERVFAIL.
//     - tor-resolve: A and AAAA are resolved with Tor's SOCKS RESOLVE
//     through the chain: the one address Tor returns answers the question
//     of its family, the other family gets NODATA ("tor-resolve"). PTR uses
//     RESOLVE_PTR. An error matching EHOSTUNREACH is NXDOMAIN, any other
//     SERVFAIL. Other types are handled as in remote mode.
//
// Real addresses learnt from local, tunnel and Tor answers are remembered
// (a bounded LRU) so that [Resolver.NameOf] lets routing rules see the name
// behind them. Every question produces exactly one [Event].
//
// # Pool
//
// A name's fake address is derived from a hash of the name, so it is the
// same in every run unless two names collide (then the later one takes the
// next free address). The pool holds at most Capacity names; a new name
// then recycles the least recently used mapping that has been idle longer
// than the TTL and that no live connection uses (see [ConnTracker]).
package fakedns
