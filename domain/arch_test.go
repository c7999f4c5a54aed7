// Package domain_test guards the architecture: the domain depends on nothing
// but the standard library and itself.
package domain_test

import (
	"os/exec"
	"strings"
	"testing"
)

func TestDomainImportsOnlyStdlibAndDomain(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const domain = "github.com/daihuo/daihuo/domain"
	var checked int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		checked++
		if std == "true" || path == domain || strings.HasPrefix(path, domain+"/") {
			continue
		}
		t.Errorf("domain depends on %s: only the standard library and domain/... are allowed", path)
	}
	if checked < 10 {
		t.Fatalf("go list returned %d packages; the guard checked nothing", checked)
	}
}
