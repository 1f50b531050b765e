package ring

import _ "embed"

// cHeader makes sgb_ring.h part of this package's build identity. cmd/go
// does not track headers that cgo packages include from other directories
// (bridge/jack, the test helper), but it rebuilds every importer of a
// package whose compiled form changed; embedding the header turns an edit
// of the header into such a change.
//
//go:embed sgb_ring.h
var cHeader string
