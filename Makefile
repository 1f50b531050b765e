# sgbridge: see README.md. Every target works on a fresh Debian 12 machine
# with Go >= 1.26; `deps` installs the Debian packages (sudo if not root).

GO       ?= go
BIN      := bin/sgbridge
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
PKGS     := ./...
export GOFLAGS ?= -mod=mod

.PHONY: all deps build test acceptance run bench lint fmt clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sgbridge

# Tests start their own private JACK and PipeWire servers; nothing needs to
# be running. scripts/test.sh says how they are run and why.
test: deps
	$(GO) vet $(PKGS)
	$(GO) vet -tags acceptance $(PKGS)
	scripts/test.sh $(PKGS)

# The open issues' real-server targets as the issues state them (drift to
# 0.1 ppm on JACK, PipeWire and UIO, under GC pressure, ALSA beside
# zita-a2j). Not part of `test` until the code meets them.
acceptance: deps
	JACK_NO_START_SERVER=1 $(GO) test -tags acceptance -p 1 -count=1 -timeout 30m -run 'Drift|ALSA' -v ./cmd/sgbridge

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
