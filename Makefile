# chainrun — build, test, bench, demo. `make test` installs what it needs
# (Debian packages) when run as root on a machine that lacks them.

GO        ?= go
BIN       := bin/chainrun
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PREFIX    ?= /usr/local

# Debian packages the tests, the demo and the benchmark use.
APT_PACKAGES := curl wget python3 gcc libc6-dev gcc-multilib iproute2 microsocks proxychains4 file tmux \
                dante-server openssh-server openssh-client tinyproxy git bind9-dnsutils musl-tools \
                liburing-dev torsocks chromium tor

.PHONY: all build deps test unit vet bench demo install clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/chainrun

deps:
	@tools/apt-deps.sh $(APT_PACKAGES)
	@$(GO) mod download

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# The whole suite: unit tests, tracer tests and the end-to-end tests in
# network namespaces (those need root; under CI=true they fail instead of
# skipping when they cannot run).
test: deps build vet
	@tools/run-tests.sh ./...

unit: build
	$(GO) test -count=1 -short ./...

bench: deps build
	$(GO) run ./testdata/bench/run -chainrun $(BIN) $(BENCHFLAGS)

demo: deps build
	@tools/demo.sh $(BIN)

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/chainrun

clean:
	rm -rf bin build
