module github.com/chainrun/chainrun

go 1.26.8

require golang.org/x/sys v0.49.0

require github.com/BurntSushi/toml v1.6.0

require golang.org/x/net v0.62.0
