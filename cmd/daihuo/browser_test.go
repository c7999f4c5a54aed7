package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The live player in a real browser (Debian's chromium, driven by
// playwright-core) against a real server: the snapshot, a flash pin made by
// the brand, chat, and a purchase paid with the local simulator, all shown
// as they happen. The scenario is web/e2e/player.mjs.
func TestPlayerInChromium(t *testing.T) {
	for _, need := range []string{"/usr/bin/chromium", "../../web/e2e/node_modules/playwright-core"} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s is missing: run scripts/deps.sh test (make test does)", need)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is missing: run scripts/deps.sh test (make test does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startChild(t, sharedInfra(ctx, t), "--data-dir", dataDir(t))
	w, err := newBenchWorld(ctx, &benchServer{url: srv.url, admin: testAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	streamID, products, err := w.liveStream(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "player.png")
	if dir := os.Getenv("DAIHUO_SCREENSHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, "player.png")
	}
	cmd := exec.CommandContext(ctx, node, "player.mjs")
	cmd.Dir = "../../web/e2e"
	cmd.Env = append(os.Environ(), "BASE_URL="+srv.url, "STREAM_ID="+streamID, "PRODUCT_ID="+products[0],
		"BRAND_TOKEN="+w.brand, "SCREENSHOT="+shot)
	out, err := cmd.CombinedOutput()
	var res struct {
		OK    bool           `json:"ok"`
		Error string         `json:"error"`
		Seen  map[string]any `json:"seen"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &res); jerr != nil || err != nil || !res.OK {
		t.Fatalf("player scenario failed (%v): %s", err, out)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("player saw: %v", res.Seen)
}
