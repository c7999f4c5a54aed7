package pgcluster

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindBinDir(t *testing.T) {
	for _, tc := range []struct {
		name      string
		installed []string // major versions with a bin/pg_ctl
		bare      []string // major versions without one
		want      string   // a version, "" for none
	}{
		{"15 is there", []string{"15", "17"}, nil, "15"},
		{"only newer ones", []string{"16", "17"}, nil, "17"},
		{"newest with binaries", []string{"16"}, []string{"17"}, "16"},
		{"too old", []string{"13", "14"}, nil, ""},
		{"nothing", nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, v := range tc.installed {
				bin := filepath.Join(root, v, "bin")
				if err := os.MkdirAll(bin, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(bin, "pg_ctl"), nil, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, v := range tc.bare {
				if err := os.MkdirAll(filepath.Join(root, v, "bin"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			want := ""
			if tc.want != "" {
				want = filepath.Join(root, tc.want, "bin")
			}
			if got := FindBinDir(root); got != want {
				t.Fatalf("FindBinDir = %q, want %q", got, want)
			}
		})
	}
}
