package stripemocktest_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daihuo/daihuo/payments/stripe/stripemocktest"
)

func TestStartServesAndStopKills(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := stripemocktest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, want loopback", srv.URL)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/balance", nil)
	req.SetBasicAuth("sk_test_x", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/balance: %s", resp.Status)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("stripe-mock still answers after Stop")
	}
}

func TestBinaryHonoursEnv(t *testing.T) {
	t.Setenv(stripemocktest.EnvBin, filepath.Join(t.TempDir(), "missing"))
	if _, _, err := stripemocktest.Binary(context.Background()); err == nil || !strings.Contains(err.Error(), stripemocktest.EnvBin) {
		t.Errorf("Binary with a missing %s: %v", stripemocktest.EnvBin, err)
	}
}
