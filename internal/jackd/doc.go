// Package jackd starts private JACK servers (jackd with the dummy driver)
// for tests and tools, under unique names so parallel test binaries and a
// user's own server never meet.
package jackd
