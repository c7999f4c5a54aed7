package hub

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func recv(t *testing.T, v *Viewer) string {
	t.Helper()
	select {
	case f := <-v.C:
		return string(f)
	case <-time.After(5 * time.Second):
		t.Fatal("no frame within 5s")
		return ""
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"numbered", Event{Seq: 7, Type: "pin.added", Data: map[string]string{"id": "pin_1"}}, "id: 7\nevent: pin.added\ndata: {\"id\":\"pin_1\"}\n\n"},
		{"transient", Event{Type: "viewers", Data: map[string]int{"count": 3}}, "event: viewers\ndata: {\"count\":3}\n\n"},
		{"newline in text stays escaped", Event{Seq: 1, Type: "chat.message", Data: map[string]string{"text": "a\nb"}}, "id: 1\nevent: chat.message\ndata: {\"text\":\"a\\nb\"}\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("Encode = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPublishReachesEveryViewerWithOneEncoding(t *testing.T) {
	h := New(Options{})
	a := h.Subscribe("str_1", 0).Viewer
	b := h.Subscribe("str_1", 0).Viewer
	other := h.Subscribe("str_2", 0).Viewer
	if err := h.Publish("str_1", Event{Seq: 1, Type: "pin.added", Data: 1}); err != nil {
		t.Fatal(err)
	}
	fa, fb := <-a.C, <-b.C
	if &fa[0] != &fb[0] {
		t.Fatal("viewers got different encodings of one event; want one shared frame")
	}
	select {
	case f := <-other.C:
		t.Fatalf("viewer of another stream got %q", f)
	default:
	}
	if got := h.Viewers("str_1"); got != 2 {
		t.Fatalf("Viewers = %d, want 2", got)
	}
	h.Unsubscribe(a)
	h.Unsubscribe(a)
	if got := h.Viewers("str_1"); got != 1 {
		t.Fatalf("Viewers after unsubscribe = %d, want 1", got)
	}
}

func TestRedeliveredEventIsIgnored(t *testing.T) {
	h := New(Options{})
	v := h.Subscribe("s", 0).Viewer
	for _, seq := range []int64{1, 2, 2, 1, 3} {
		if err := h.Publish("s", Event{Seq: seq, Type: "x", Data: seq}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"id: 1\n", "id: 2\n", "id: 3\n"} {
		if got := recv(t, v); !strings.HasPrefix(got, want) {
			t.Fatalf("frame %q, want prefix %q", got, want)
		}
	}
	select {
	case f := <-v.C:
		t.Fatalf("duplicate delivered: %q", f)
	default:
	}
}

// An event the relay published twice arrives under two numbers: the second
// is not shown while its id is among the room's last 4 × History ids; once
// that many newer ids came, an event of that id is new again.
func TestRepublishedEventIsIgnored(t *testing.T) {
	h := New(Options{History: 1}) // remembers 4 ids
	v := h.Subscribe("s", 0).Viewer
	for _, ev := range []Event{{Seq: 1, ID: "a"}, {Seq: 2, ID: "b"}, {Seq: 3, ID: "a"}, {Seq: 4, ID: "c"}, {Seq: 5, ID: "d"}, {Seq: 6, ID: "e"}, {Seq: 7, ID: "a"}} {
		ev.Type, ev.Data = "x", ev.ID
		if err := h.Publish("s", ev); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"id: 1\n", "id: 2\n", "id: 4\n", "id: 5\n", "id: 6\n", "id: 7\n"} {
		if got := recv(t, v); !strings.HasPrefix(got, want) {
			t.Fatalf("frame %q, want prefix %q", got, want)
		}
	}
	select {
	case f := <-v.C:
		t.Fatalf("duplicate delivered: %q", f)
	default:
	}
	if got := h.Subscribe("s", 6).Replay; len(got) != 1 {
		t.Fatalf("resume after 6 replays %d frames, want 7", len(got))
	}
}

func TestSlowViewerIsDroppedWithoutDelayingOthers(t *testing.T) {
	h := New(Options{Buffer: 4})
	slow := h.Subscribe("s", 0).Viewer
	fast := h.Subscribe("s", 0).Viewer
	for i := int64(1); i <= 20; i++ {
		if err := h.Publish("s", Event{Seq: i, Type: "x", Data: i}); err != nil {
			t.Fatal(err)
		}
		recv(t, fast)
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("a viewer that never read was not dropped")
	}
	if got := h.Viewers("s"); got != 1 {
		t.Fatalf("Viewers = %d, want 1 after the drop", got)
	}
}

func TestSubscribeResume(t *testing.T) {
	h := New(Options{History: 5})
	for i := int64(1); i <= 8; i++ {
		if err := h.Publish("s", Event{Seq: i, Type: "x", Data: i}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name        string
		last        int64
		wantResumed bool
		wantReplay  int
	}{
		{"fresh", 0, false, 0},
		{"up to date", 8, true, 0},
		{"gap held", 5, true, 3},
		{"gap held exactly", 3, true, 5},
		{"gap too old", 2, false, 0},
		{"id from the future", 99, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := h.Subscribe("s", tt.last)
			defer h.Unsubscribe(sub.Viewer)
			if sub.Resumed != tt.wantResumed || len(sub.Replay) != tt.wantReplay {
				t.Fatalf("resumed=%v replay=%d, want %v %d", sub.Resumed, len(sub.Replay), tt.wantResumed, tt.wantReplay)
			}
			if sub.Seq != 8 {
				t.Fatalf("Seq = %d, want 8", sub.Seq)
			}
			if tt.wantReplay > 0 && !strings.HasPrefix(string(sub.Replay[0]), "id: "+strconv.FormatInt(tt.last+1, 10)+"\n") {
				t.Fatalf("replay starts with %q", sub.Replay[0])
			}
		})
	}
}

// sseClient reads SSE frames from a live HTTP response.
type sseClient struct {
	t  *testing.T
	sc *bufio.Scanner
}

func (c *sseClient) next() (id, typ, data string) {
	c.t.Helper()
	for c.sc.Scan() {
		line := c.sc.Text()
		switch {
		case line == "":
			if typ != "" {
				return id, typ, data
			}
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
	c.t.Fatalf("stream ended: %v", c.sc.Err())
	return
}

func TestServeOverHTTP(t *testing.T) {
	h := New(Options{Heartbeat: 20 * time.Millisecond})
	var snapshots atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.Serve(w, r, "s", func(context.Context) (Event, error) {
			snapshots.Add(1)
			return Event{Type: "snapshot", Data: map[string]string{"status": "live"}}, nil
		})
	}))
	defer srv.Close()
	if err := h.Publish("s", Event{Seq: 1, Type: "pin.added", Data: "p1"}); err != nil {
		t.Fatal(err)
	}

	open := func(last string) (*sseClient, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type = %q", ct)
		}
		return &sseClient{t: t, sc: bufio.NewScanner(resp.Body)}, func() { cancel(); resp.Body.Close() }
	}

	c, closeFirst := open("")
	if id, typ, _ := c.next(); typ != "snapshot" || id != "1" {
		t.Fatalf("first event %s id %s, want snapshot id 1", typ, id)
	}
	waitViewers(t, h, "s", 1)
	if err := h.Publish("s", Event{Seq: 2, Type: "pin.removed", Data: "p1"}); err != nil {
		t.Fatal(err)
	}
	if id, typ, data := c.next(); typ != "pin.removed" || id != "2" || data != `"p1"` {
		t.Fatalf("got %s %s %s", id, typ, data)
	}
	closeFirst()
	waitViewers(t, h, "s", 0)

	// Missed events are replayed on reconnect, without a new snapshot.
	if err := h.Publish("s", Event{Seq: 3, Type: "pin.added", Data: "p2"}); err != nil {
		t.Fatal(err)
	}
	c2, closeSecond := open("2")
	defer closeSecond()
	if id, typ, _ := c2.next(); typ != "pin.added" || id != "3" {
		t.Fatalf("resume got %s id %s, want pin.added id 3", typ, id)
	}
	if snapshots.Load() != 1 {
		t.Fatalf("snapshots = %d, want 1 (a resume needs none)", snapshots.Load())
	}
}

func waitViewers(t *testing.T, h *Hub, stream string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.Viewers(stream) != want {
		if time.Now().After(deadline) {
			t.Fatalf("viewers = %d, want %d", h.Viewers(stream), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNaiveDeliversToEveryViewer(t *testing.T) {
	n := NewNaive()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = n.Serve(w, r, "s", func(context.Context) (Event, error) { return Event{Type: "snapshot", Data: 0}, nil })
	}))
	defer srv.Close()
	var clients []*sseClient
	for range 3 {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		c := &sseClient{t: t, sc: bufio.NewScanner(resp.Body)}
		if _, typ, _ := c.next(); typ != "snapshot" {
			t.Fatalf("first event %s", typ)
		}
		clients = append(clients, c)
	}
	if err := n.Publish("s", Event{Seq: 1, Type: "pin.added", Data: "p"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if id, typ, _ := c.next(); typ != "pin.added" || id != "1" {
			t.Fatalf("got %s %s", id, typ)
		}
	}
	if n.Viewers("s") != 3 || n.Streams()["s"] != 3 {
		t.Fatalf("viewers = %d", n.Viewers("s"))
	}
}

func TestPruneForgetsIdleRoomsOnly(t *testing.T) {
	h := New(Options{})
	_ = h.Publish("ended", Event{Seq: 1, Type: "stream.ended", Data: 0})
	watched := h.Subscribe("watched", 0).Viewer
	left := h.Subscribe("left", 0).Viewer
	h.Unsubscribe(left)
	if n := h.Prune(time.Hour); n != 0 {
		t.Fatalf("pruned %d rooms active within the hour", n)
	}
	time.Sleep(5 * time.Millisecond)
	if n := h.Prune(time.Millisecond); n != 2 {
		t.Fatalf("pruned %d rooms, want the 2 without viewers", n)
	}
	if got := h.Viewers("watched"); got != 1 {
		t.Fatalf("the watched room lost its viewer: %d", got)
	}
	// A resume into a pruned room falls back to a snapshot.
	if sub := h.Subscribe("ended", 1); sub.Resumed {
		t.Fatal("resumed from history that was pruned")
	}
	h.Unsubscribe(watched)
}

func TestCloseAllEndsEveryStream(t *testing.T) {
	h := New(Options{})
	a := h.Subscribe("s1", 0).Viewer
	b := h.Subscribe("s2", 0).Viewer
	h.CloseAll()
	for _, v := range []*Viewer{a, b} {
		select {
		case <-v.Done():
		default:
			t.Fatal("a viewer is still streaming after CloseAll")
		}
	}
	if h.Viewers("s1")+h.Viewers("s2") != 0 {
		t.Fatal("viewers remain after CloseAll")
	}
}

func TestPublishBatchSendsOneFramePerViewer(t *testing.T) {
	h := New(Options{})
	v := h.Subscribe("s", 0).Viewer
	_ = h.Publish("s", Event{Seq: 1, Type: "pin.added", Data: "a"})
	<-v.C
	evs := []Event{
		{Seq: 1, Type: "pin.added", Data: "a"}, // redelivered: dropped
		{Seq: 2, Type: "pin.removed", Data: "a"},
		{Seq: 3, Type: "pin.added", Data: "b"},
	}
	if err := h.PublishBatch("s", evs); err != nil {
		t.Fatal(err)
	}
	got := recv(t, v)
	if !strings.HasPrefix(got, "id: 2\nevent: pin.removed") || !strings.Contains(got, "\n\nid: 3\nevent: pin.added") || strings.Count(got, "id: ") != 2 {
		t.Fatalf("batch frame = %q, want events 2 and 3 in one frame", got)
	}
	select {
	case f := <-v.C:
		t.Fatalf("a second frame for one batch: %q", f)
	default:
	}
	// Resumes still see the events one by one.
	if sub := h.Subscribe("s", 2); !sub.Resumed || len(sub.Replay) != 1 || !strings.HasPrefix(string(sub.Replay[0]), "id: 3\n") {
		t.Fatalf("resume after 2 = %+v", sub)
	}
}
