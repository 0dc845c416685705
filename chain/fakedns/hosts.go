package fakedns

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strings"
)

// hostsTable is a parsed hosts file: the addresses of each name, and the
// first name of each address for PTR.
type hostsTable struct {
	addrs map[string][]netip.Addr // normalised name -> addresses, file order
	names map[netip.Addr]string   // address -> first name given for it
}

// Hosts file limits: a bigger file is read up to this size, and a name
// keeps this many addresses.
const (
	maxHostsSize  = 16 << 20
	maxHostsAddrs = 64
)

// readHosts parses the hosts file at path. A missing file is an empty
// table; lines that do not parse are skipped.
func readHosts(path string) (*hostsTable, error) {
	t := &hostsTable{addrs: map[string][]netip.Addr{}, names: map[netip.Addr]string{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fakedns: reading hosts file: %w", err)
	}
	defer f.Close()
	if err := t.parse(io.LimitReader(f, maxHostsSize)); err != nil {
		return nil, fmt.Errorf("fakedns: reading hosts file %s: %w", path, err)
	}
	return t, nil
}

// parse adds the entries of a hosts file: "address name [alias…]", with
// "#" starting a comment.
func (t *hostsTable) parse(r io.Reader) error {
	br := bufio.NewReaderSize(r, 4096)
	for {
		raw, long, err := br.ReadLine()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if long { // a line longer than the buffer is garbage: skip it all
			for long && err == nil {
				_, long, err = br.ReadLine()
			}
			continue
		}
		line, _, _ := strings.Cut(string(raw), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		a, err := netip.ParseAddr(fields[0])
		if err != nil {
			continue
		}
		a = a.Unmap().WithZone("")
		for _, name := range fields[1:] {
			n, ok := normalizeName(name)
			if !ok {
				continue
			}
			t.add(n, a)
		}
	}
}

func (t *hostsTable) add(name string, a netip.Addr) {
	have := t.addrs[name]
	for _, h := range have {
		if h == a {
			return
		}
	}
	if len(have) < maxHostsAddrs {
		t.addrs[name] = append(have, a)
	}
	if _, ok := t.names[a]; !ok {
		t.names[a] = name
	}
}

// lookup returns the addresses of the normalised name of the given family,
// and whether the name is in the table at all.
func (t *hostsTable) lookup(name string, v6 bool) (addrs []netip.Addr, found bool) {
	all, found := t.addrs[name]
	for _, a := range all {
		if a.Is6() == v6 {
			addrs = append(addrs, a)
		}
	}
	return addrs, found
}
