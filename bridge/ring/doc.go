// Package ring owns the single-producer / single-consumer float32 queue
// between sgbridge's Go engine (the producer) and a sink's real-time
// callback written in C (the consumer).
//
// The ring's memory is one anonymous mapping outside the Go heap, locked
// into RAM where the system allows it and touched before use, so C may hold
// pointers into it and a page fault or a garbage collection can never stall
// the consumer. The mapping starts with a header whose layout is shared with
// C through sgb_ring.h (include it with
// `#cgo CFLAGS: -I${SRCDIR}/../ring`); `channels` planar regions of
// Capacity float32 samples follow it. Head and tail are free-running 64-bit
// frame counts on separate cache lines, each side caching the other's.
//
// The C consumer (sgb_ring_read) also counts underruns and holds back
// until the start-up pre-fill is reached; sgb_ring_publish_timing publishes
// each sink cycle's timing through a seqlock that Timing reads. Read and
// PublishTiming do the same from Go for tests and Go-side consumers.
package ring
