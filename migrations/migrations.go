// Package migrations holds the versioned SQL schema of daihuo, embedded so the
// binary can apply it without files on disk.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files, named NNNNN_description.sql in goose format.
func FS() fs.FS { return files }
