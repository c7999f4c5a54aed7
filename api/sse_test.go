package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// sseWait bounds every wait for an event; generous, never an assertion.
const sseWait = 10 * time.Second

// sseEvent is one event of an event stream, or a comment line.
type sseEvent struct {
	id, typ, data string
	comment       string // the line of a comment (": ping"), else empty
}

// sseConn is an event stream opened on a real server. A response other
// than 200 is read whole into body.
type sseConn struct {
	status int
	header http.Header
	body   []byte
	events chan sseEvent
	cancel context.CancelFunc
}

// openEvents opens path on the world's real HTTP server.
func openEvents(t testing.TB, w *world, path, token, lastEventID string) *sseConn {
	t.Helper()
	return openEventsAt(t, w.srv.Client(), w.srv.URL, path, token, lastEventID)
}

// openEventsAt opens an event stream at base+path with client; the stream
// is closed when the test ends, or earlier by close.
func openEventsAt(t testing.TB, client *http.Client, base, path, token, lastEventID string) *sseConn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open %s: %v", path, err)
	}
	c := &sseConn{status: resp.StatusCode, header: resp.Header, cancel: cancel, events: make(chan sseEvent, 1024)}
	if resp.StatusCode != http.StatusOK {
		c.body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		close(c.events)
		return c
	}
	go c.read(ctx, resp.Body)
	return c
}

// read parses the stream into events until it ends.
func (c *sseConn) read(ctx context.Context, body io.ReadCloser) {
	defer close(c.events)
	defer body.Close()
	emit := func(e sseEvent) bool {
		select {
		case c.events <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.typ != "" || cur.data != "" {
				if !emit(cur) {
					return
				}
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
			if !emit(sseEvent{comment: line}) {
				return
			}
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data += strings.TrimPrefix(line, "data: ")
		}
	}
}

// next returns the next event, skipping comments; the stream ending or
// staying silent for sseWait fails the test.
func (c *sseConn) next(t testing.TB) sseEvent {
	t.Helper()
	timeout := time.After(sseWait)
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if e.comment == "" {
				return e
			}
		case <-timeout:
			t.Fatalf("no event within %s", sseWait)
		}
	}
}

// nextComment returns the next comment line, skipping events.
func (c *sseConn) nextComment(t testing.TB) string {
	t.Helper()
	timeout := time.After(sseWait)
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if e.comment != "" {
				return e.comment
			}
		case <-timeout:
			t.Fatalf("no comment line within %s", sseWait)
		}
	}
}

// close ends the stream from the client's side.
func (c *sseConn) close() { c.cancel() }

// validateSchema checks JSON data against a component schema of the
// document, as apitest checks the bodies it sees.
func validateSchema(t testing.TB, doc *openapi3.T, name, data string) {
	t.Helper()
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		t.Fatalf("no schema %s", name)
	}
	var v any
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		t.Fatalf("%s is not JSON: %v: %s", name, err, data)
	}
	if err := doc.ValidateSchemaJSON(ref.Value, v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		t.Errorf("%s breaks its schema: %v\n%s", name, err, data)
	}
}

// decodeData decodes data into v, rejecting unknown fields.
func decodeData(t testing.TB, data string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

// newServerWithWriteTimeout serves the world's api on a real server whose
// WriteTimeout is d, as main's server has one.
func newServerWithWriteTimeout(t testing.TB, w *world, d time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(w.handler)
	srv.Config.WriteTimeout = d
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}
