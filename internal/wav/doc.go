// Package wav reads and writes RIFF/WAVE files for sgbridge's tests and
// tools.
//
// The reader takes what real recorders write: integer PCM of 8, 16, 24 and
// 32 bits, IEEE float of 32 and 64 bits, plain or WAVE_FORMAT_EXTENSIBLE
// headers, RF64, unknown chunks with their pad bytes, and data chunks whose
// size was never patched (0, 0xFFFFFFFF, or sox's 0x7FFFF000 placeholder),
// which it reads to end of file. Samples come out planar and scaled so that
// an integer v of B bits is exactly v/2^(B-1); float samples are unchanged.
//
// The writer writes IEEE float32 files (format tag 3, the layout sox writes)
// and patches the sizes on Close.
package wav
