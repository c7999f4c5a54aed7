//go:build unix

package hub

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wait bounds every wait of these tests; generous, never an assertion.
const wait = 10 * time.Second

// servePath is one way a viewer is served: HTTP/1.1, hijacked onto a writer
// shard, or HTTP/2, which cannot be hijacked and is fed by its handler.
type servePath struct {
	name  string
	start func(http.Handler) *httptest.Server
	shard bool
}

var servePaths = []servePath{
	{"http1 on a writer shard", httptest.NewServer, true},
	{"http2 on its handler", func(hd http.Handler) *httptest.Server {
		s := httptest.NewUnstartedServer(hd)
		s.EnableHTTP2 = true
		s.StartTLS()
		return s
	}, false},
}

// stage is a test server serving stream "s" of a hub.
type stage struct {
	t    *testing.T
	h    *Hub
	path servePath
	srv  *httptest.Server
}

func newStage(t *testing.T, h *Hub, path servePath, snapshot Snapshot) *stage {
	t.Helper()
	if snapshot == nil {
		snapshot = func(context.Context) (Event, error) { return Event{Type: "snapshot", Data: "state"}, nil }
	}
	srv := path.start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.Serve(w, r, "s", snapshot)
	}))
	t.Cleanup(func() {
		h.CloseAll()
		srv.Close()
	})
	return &stage{t: t, h: h, path: path, srv: srv}
}

// stream is one viewer's event stream.
type stream struct {
	t      *testing.T
	resp   *http.Response
	frames chan sseFrame
	cancel context.CancelFunc
}

type sseFrame struct{ id, typ, data string }

// open connects a viewer; last is its Last-Event-ID ("" for none).
func (s *stage) open(last string) *stream {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.srv.URL, nil)
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		s.t.Fatalf("status %d, Content-Type %q", resp.StatusCode, ct)
	}
	if hijacked := resp.ProtoMajor == 1 && resp.Close && len(resp.TransferEncoding) == 0; hijacked != s.path.shard {
		s.t.Fatalf("proto %s, close %v, transfer encoding %v: want hijacked %v", resp.Proto, resp.Close, resp.TransferEncoding, s.path.shard)
	}
	st := &stream{t: s.t, resp: resp, frames: make(chan sseFrame, 1024), cancel: cancel}
	return st
}

// read starts parsing the stream's frames in the background; a stream that
// is never read stays unread (a stuck viewer).
func (st *stream) read() *stream {
	go func() {
		defer close(st.frames)
		defer st.resp.Body.Close()
		sc := bufio.NewScanner(st.resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var f sseFrame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if f.typ != "" {
					st.frames <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, "id: "):
				f.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				f.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				f.data = line[6:]
			}
		}
	}()
	return st
}

// next returns the next event; the stream ending first fails the test.
func (st *stream) next() sseFrame {
	st.t.Helper()
	select {
	case f, ok := <-st.frames:
		if !ok {
			st.t.Fatal("the event stream ended")
		}
		return f
	case <-time.After(wait):
		st.t.Fatalf("no event within %s", wait)
	}
	return sseFrame{}
}

// want reads the next event and checks its id and type.
func (st *stream) want(id, typ string) sseFrame {
	st.t.Helper()
	f := st.next()
	if f.id != id || f.typ != typ {
		st.t.Fatalf("event %s id %q, want %s id %q", f.typ, f.id, typ, id)
	}
	return f
}

// ended waits for the stream to end, skipping any events left.
func (st *stream) ended() {
	st.t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-st.frames:
			if !ok {
				return
			}
		case <-timeout:
			st.t.Fatalf("the event stream still open after %s", wait)
		}
	}
}

// onShards is how many viewers of a stream the hub has handed to shards.
func onShards(h *Hub, stream string) int {
	h.mu.Lock()
	r := h.rooms[stream]
	h.mu.Unlock()
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.onShard {
		n += c
	}
	return n
}

// live waits until n viewers are connected, and on the shard path until
// they are all live on shards.
func (s *stage) live(n int) {
	s.t.Helper()
	waitViewers(s.t, s.h, "s", n)
	if !s.path.shard {
		return
	}
	deadline := time.Now().Add(wait)
	for onShards(s.h, "s") != n {
		if time.Now().After(deadline) {
			s.t.Fatalf("%d viewers on shards, want %d", onShards(s.h, "s"), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func publish(t *testing.T, h *Hub, evs ...Event) {
	t.Helper()
	if err := h.PublishBatch("s", evs); err != nil {
		t.Fatal(err)
	}
}

func pin(seq int64) Event { return Event{Seq: seq, Type: "pin.added", Data: seq} }

func TestServeSnapshotThenLiveThenResume(t *testing.T) {
	for _, path := range servePaths {
		t.Run(path.name, func(t *testing.T) {
			h := New(Options{Heartbeat: 20 * time.Millisecond})
			var snapshots atomic.Int32
			s := newStage(t, h, path, func(context.Context) (Event, error) {
				snapshots.Add(1)
				return Event{Type: "snapshot", Data: "state"}, nil
			})
			publish(t, h, pin(1))
			v := s.open("").read()
			v.want("1", "snapshot")
			s.live(1)
			publish(t, h, pin(2))
			publish(t, h, pin(3), pin(4)) // one frame
			for _, id := range []string{"2", "3", "4"} {
				v.want(id, "pin.added")
			}
			v.cancel()
			waitViewers(t, h, "s", 0)

			// The missed events come back on resume, with no new snapshot.
			publish(t, h, pin(5), pin(6))
			r := s.open("3").read()
			for _, id := range []string{"4", "5", "6"} {
				r.want(id, "pin.added")
			}
			s.live(1)
			publish(t, h, pin(7))
			r.want("7", "pin.added")
			if n := snapshots.Load(); n != 1 {
				t.Fatalf("%d snapshots, want 1 (a resume needs none)", n)
			}
		})
	}
}

func TestEventsDuringTheSnapshotFollowItInOrder(t *testing.T) {
	for _, path := range servePaths {
		t.Run(path.name, func(t *testing.T) {
			h := New(Options{})
			entered, release := make(chan struct{}), make(chan struct{})
			s := newStage(t, h, path, func(context.Context) (Event, error) {
				close(entered)
				<-release
				return Event{Type: "snapshot", Data: "state"}, nil
			})
			publish(t, h, pin(1))
			opened := make(chan *stream, 1)
			go func() { opened <- s.open("") }()
			select {
			case <-entered:
			case <-time.After(wait):
				t.Fatal("the snapshot was never taken")
			}
			// The viewer has subscribed; its snapshot is being taken.
			publish(t, h, pin(2))
			publish(t, h, pin(3), pin(4))
			close(release)
			v := (<-opened).read()
			v.want("1", "snapshot")
			s.live(1)
			publish(t, h, pin(5))
			for _, id := range []string{"2", "3", "4", "5"} {
				v.want(id, "pin.added")
			}
		})
	}
}

func TestStuckViewerIsDroppedWhileOthersGetEverything(t *testing.T) {
	big := strings.Repeat("x", 256<<10) // fills socket buffers in a few frames
	for _, path := range servePaths {
		t.Run(path.name, func(t *testing.T) {
			h := New(Options{Buffer: 4})
			s := newStage(t, h, path, nil)
			stuck := s.open("") // never read
			fast := []*stream{s.open("").read(), s.open("").read()}
			s.live(3)
			for _, v := range fast {
				v.want("", "snapshot")
			}
			// Publish until the stuck viewer is dropped, the others reading
			// every event before the next.
			seq := int64(0)
			for h.Viewers("s") == 3 {
				if seq++; seq > 2000 {
					t.Fatal("the stuck viewer was never dropped")
				}
				publish(t, h, Event{Seq: seq, Type: "big", Data: big})
				for _, v := range fast {
					if f := v.want(strconv.FormatInt(seq, 10), "big"); len(f.data) != len(big)+2 {
						t.Fatalf("event %d: %d bytes of data, want %d", seq, len(f.data), len(big)+2)
					}
				}
			}
			t.Logf("dropped after %d events of %d KiB", seq, len(big)>>10)
			waitViewers(t, h, "s", 2)
			publish(t, h, pin(seq+1))
			for _, v := range fast {
				v.want(strconv.FormatInt(seq+1, 10), "pin.added")
			}
			stuck.cancel()
		})
	}
}

func TestCloseAllEndsServedStreams(t *testing.T) {
	for _, path := range servePaths {
		t.Run(path.name, func(t *testing.T) {
			h := New(Options{})
			s := newStage(t, h, path, nil)
			var vs []*stream
			for range 3 {
				vs = append(vs, s.open("").read())
			}
			s.live(3)
			h.CloseAll()
			for _, v := range vs {
				v.ended()
			}
			waitViewers(t, h, "s", 0)
		})
	}
}

// TestClosedPeerIsRemoved: a viewer that goes away, politely or not, is
// taken off its shard although no event is written to it.
func TestClosedPeerIsRemoved(t *testing.T) {
	tests := []struct {
		name  string
		reset bool
	}{
		{"closed (FIN)", false},
		{"reset (RST)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(Options{})
			s := newStage(t, h, servePaths[0], nil)
			conn := s.rawGet(t)
			br := bufio.NewReader(conn)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if line == "event: snapshot\n" {
					break
				}
			}
			s.live(1)
			if tt.reset {
				_ = conn.(*net.TCPConn).SetLinger(0)
			}
			conn.Close()
			waitViewers(t, h, "s", 0)
			if n := onShards(h, "s"); n != 0 {
				t.Fatalf("%d viewers still on shards", n)
			}
		})
	}
}

// countingData counts its encodings.
type countingData struct{ n *atomic.Int32 }

func (c countingData) MarshalJSON() ([]byte, error) {
	c.n.Add(1)
	return []byte(`"once"`), nil
}

func TestServedViewersShareOneEncoding(t *testing.T) {
	h := New(Options{})
	s := newStage(t, h, servePaths[0], nil)
	var vs []*stream
	for range 5 { // over every shard
		vs = append(vs, s.open("").read())
	}
	s.live(5)
	var encodings atomic.Int32
	publish(t, h, Event{Seq: 1, Type: "pin.added", Data: countingData{&encodings}})
	for _, v := range vs {
		v.want("", "snapshot")
		if f := v.want("1", "pin.added"); f.data != `"once"` {
			t.Fatalf("data %q", f.data)
		}
	}
	if n := encodings.Load(); n != 1 {
		t.Fatalf("the event was encoded %d times for %d viewers, want once", n, len(vs))
	}
}

// The response head of a hijacked stream is a plain HTTP/1.1 one that ends
// with the connection.
func TestHijackedResponseHead(t *testing.T) {
	h := New(Options{})
	s := newStage(t, h, servePaths[0], nil)
	conn := s.rawGet(t)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !resp.Close || resp.ContentLength != -1 || len(resp.TransferEncoding) != 0 {
		t.Errorf("status %d, close %v, length %d, transfer encoding %v: want 200 with a body that ends with the connection",
			resp.StatusCode, resp.Close, resp.ContentLength, resp.TransferEncoding)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	body := make([]byte, len("retry: 2000\n\n"))
	if _, err := io.ReadFull(resp.Body, body); err != nil || string(body) != "retry: 2000\n\n" {
		t.Fatalf("body starts %q (%v)", body, err)
	}
}

// rawGet opens a plain TCP connection to the stage's server and sends the
// stream's request on it; the connection closes with the test.
func (s *stage) rawGet(t *testing.T) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	return conn
}

// TestStalledViewerIsDropped: a viewer whose connection takes nothing is
// dropped once WriteTimeout passes without progress, even on a stream that
// publishes nothing more, while its backlog is still within Buffer.
func TestStalledViewerIsDropped(t *testing.T) {
	h := New(Options{Buffer: 1 << 10, WriteTimeout: 200 * time.Millisecond, Heartbeat: time.Hour})
	s := newStage(t, h, servePaths[0], nil)
	conn := s.rawGet(t) // never read
	s.live(1)
	big := strings.Repeat("x", 256<<10)
	for i := range 40 { // 10 MiB: far more than the socket buffers hold
		publish(t, h, Event{Seq: int64(i + 1), Type: "pin.added", Data: big})
	}
	waitViewers(t, h, "s", 0)
	if n := onShards(h, "s"); n != 0 {
		t.Fatalf("%d viewers still on shards", n)
	}
	// The connection was closed: reading drains what was sent, then ends.
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("the stalled viewer's connection did not end: %v", err)
	}
}
