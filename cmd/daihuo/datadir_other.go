//go:build !unix

package main

// lockDataDir does nothing where flock is missing: a second serve on the
// same data dir is not detected there.
func lockDataDir(string) (func(), error) { return func() {}, nil }

// dataDirServed cannot tell where flock is missing, and says no.
func dataDirServed(string) bool { return false }
