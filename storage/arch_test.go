package storage_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStorageImportsOnlyDomainGormAndPgx guards DESIGN's layering: storage
// (tests aside) imports the standard library, domain, its own packages,
// the embedded migrations, gorm, pgx and goose, and nothing else (no
// payments adapter, no api, no streaming).
func TestStorageImportsOnlyDomainGormAndPgx(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/daihuo/daihuo/"
	allowed := []string{mod + "domain", mod + "storage", mod + "migrations", "gorm.io/", "github.com/jackc/pgx/", "github.com/pressly/goose/"}
	var checked int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			checked++
			if !strings.Contains(imp, ".") { // the standard library
				continue
			}
			ok := false
			for _, a := range allowed {
				ok = ok || imp == a || strings.HasPrefix(imp, a)
			}
			if !ok {
				t.Errorf("%s imports %s: storage may import only domain, gorm, pgx and goose", fields[0], imp)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("go list returned %d imports; the guard checked nothing", checked)
	}
}
