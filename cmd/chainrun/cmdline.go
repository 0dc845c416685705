package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chainrun/chainrun/chain"
)

// cmdline walks a command line one flag at a time; the parsers of run and
// serve share it. name, inline and hasInline describe the current flag
// ("--timeout=5s" has the inline value "5s").
type cmdline struct {
	args      []string
	i         int
	name      string
	inline    string
	hasInline bool
}

// value returns the flag's value: the text after "=", or the next argument.
func (c *cmdline) value() (string, error) {
	if c.hasInline {
		return c.inline, nil
	}
	if c.i+1 >= len(c.args) {
		return "", fmt.Errorf("flag %s needs a value", c.name)
	}
	c.i++
	return c.args[c.i], nil
}

// noValue fails for a flag that takes no value but was given one.
func (c *cmdline) noValue() error {
	if c.hasInline {
		return fmt.Errorf("flag %s takes no value", c.name)
	}
	return nil
}

// proxy reads the flag's value as a proxy URL.
func (c *cmdline) proxy() (*chain.Proxy, error) {
	v, err := c.value()
	if err != nil {
		return nil, err
	}
	return chain.ParseProxy(v)
}

// duration reads the flag's value as a positive duration.
func (c *cmdline) duration() (time.Duration, error) {
	v, err := c.value()
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("flag %s: %q is not a positive duration such as 5s or 500ms", c.name, v)
	}
	return d, nil
}

// positive reads the flag's value as a positive whole number.
func (c *cmdline) positive() (int, error) {
	v, err := c.value()
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("flag %s: %q is not a positive number", c.name, v)
	}
	return n, nil
}

// choice is the flag's value, which must be one of allowed.
func (c *cmdline) choice(allowed []string) (string, error) {
	v, err := c.value()
	if err != nil {
		return "", err
	}
	if !slices.Contains(allowed, v) {
		return "", fmt.Errorf("flag %s: %q: want %s", c.name, v, strings.Join(allowed, ", "))
	}
	return v, nil
}
