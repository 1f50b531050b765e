# sgbridge: see README.md. Every target works on a fresh Debian 12 machine
# with Go >= 1.26; `deps` installs the Debian packages (sudo if not root).

GO       ?= go
BIN      := bin/sgbridge
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
PKGS     := ./...
export GOFLAGS ?= -mod=mod

.PHONY: all deps build test run bench lint fmt clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sgbridge

# Tests start their own private JACK servers; nothing needs to be running.
test: deps
	$(GO) vet $(PKGS)
	JACK_NO_START_SERVER=1 $(GO) test -count=1 -timeout 20m $(PKGS)

run: build
	@scripts/run.sh $(ARGS)

# Benchmarks, side by side with their anchors where the package has one.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 6 $(PKGS) | tee bench.out

lint: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin bench.out
