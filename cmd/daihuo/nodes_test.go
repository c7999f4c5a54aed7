package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/daihuo/daihuo/storage/storagetest"
)

func TestMain(m *testing.M) {
	runChildIfAsked()
	storagetest.Main(m)
}

// Two nodes on one database and one broker: a pin made through node A
// reaches a viewer connected to node B, through the outbox, Kafka and B's hub.
// Node B plays the api role alone, as the stateless nodes behind a load
// balancer do: it still feeds its viewers live events and counts them.
func TestPinThroughNodeAReachesViewerOnNodeB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	getenv := envFunc(sharedInfra(ctx, t))
	dir := dataDir(t)
	urlA, stopA := startServeWith(t, getenv, dir, "--roles", "api,relay,live,settle")
	defer stopA()
	urlB, stopB := startServeWith(t, getenv, dir, "--roles", "api")
	defer stopB()
	// Only the node that runs the relay reports the outbox's backlog.
	for _, n := range []struct {
		url  string
		want bool
	}{{urlA, true}, {urlB, false}} {
		if _, body := get(t, n.url+"/metrics"); strings.Contains(body, "daihuo_outbox_backlog") != n.want {
			t.Errorf("%s/metrics reports daihuo_outbox_backlog: %v, want %v", n.url, !n.want, n.want)
		}
	}

	w2, err := newBenchWorld(ctx, &benchServer{url: urlA, admin: testAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	streamID, products, err := w2.liveStream(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, urlB+"/v1/streams/"+streamID+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				typ = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				events <- typ + " " + v
			}
		}
		close(events)
	}()
	next := func() string {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("event stream of node B ended")
			}
			return e
		case <-time.After(20 * time.Second):
			t.Fatal("no event from node B within 20s")
			return ""
		}
	}
	if e := next(); !strings.HasPrefix(e, "snapshot ") || !strings.Contains(e, `"status":"live"`) {
		t.Fatalf("first event from node B: %s", e)
	}
	pinID, err := w2.pin(ctx, streamID, products[0])
	if err != nil {
		t.Fatal(err)
	}
	// The pin comes through B's live feed; the viewer count through B's
	// presence, which beats B's one viewer into the database and broadcasts
	// the total.
	pinned, counted := false, false
	for !pinned || !counted {
		e := next()
		switch {
		case strings.HasPrefix(e, "pin.added "):
			if !strings.Contains(e, pinID) {
				t.Fatalf("pin.added on node B is not the pin made on node A: %s", e)
			}
			pinned = true
		case strings.HasPrefix(e, "viewers "):
			if !strings.Contains(e, `"count":1`) {
				t.Fatalf("viewers on node B: %s, want its one viewer counted", e)
			}
			counted = true
		}
	}
}

// Shutting down ends open event streams instead of waiting on them: the
// viewer's stream closes and serve returns long before its drain timeout.
func TestShutdownEndsEventStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, stop := startServeWith(t, envFunc(sharedInfra(ctx, t)), dataDir(t), "--shutdown-timeout", "90s")
	w, err := newBenchWorld(ctx, &benchServer{url: url, admin: testAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	streamID, _, err := w.liveStream(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url + "/v1/streams/" + streamID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "event: snapshot") {
	}
	ended := make(chan struct{})
	go func() {
		for sc.Scan() {
		}
		close(ended)
	}()
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case <-ended:
	case <-time.After(60 * time.Second):
		t.Fatal("the event stream was still open 60 s into a shutdown")
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve still draining after 60 s with a 90 s timeout: it waited on the stream")
	}
}
