package storage

// ConnForTest exposes conn to the package's external tests.
var ConnForTest = conn
