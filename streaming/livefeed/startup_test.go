package livefeed

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/streaming"
	"github.com/daihuo/daihuo/streaming/hub"
)

// waitTimeout bounds every wait of these tests; it is never a timing assertion.
const waitTimeout = 20 * time.Second

// startBroker starts an in-memory broker, with the daihuo topics when
// withTopics is set.
func startBroker(t *testing.T, withTopics bool) []string {
	t.Helper()
	b, err := streaming.StartEmbeddedBroker("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if withTopics {
		createTopics(t, b.Addrs())
	}
	return b.Addrs()
}

func createTopics(t *testing.T, brokers []string) {
	t.Helper()
	if err := streaming.EnsureTopics(context.Background(), brokers, event.Topics(), 3); err != nil {
		t.Fatal(err)
	}
}

// closedAddr returns a loopback address that nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// publishLive publishes one live event of type typ for stream str_1.
func publishLive(t *testing.T, brokers []string, typ string, n int) {
	t.Helper()
	p := streaming.NewProducer(brokers, nil)
	defer p.Close()
	ev, err := event.New(event.TopicLive, typ, "str_1", map[string]int{"n": n}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := p.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
}

// run is a feed's Run in the background: done closes when Run returns,
// with its error in err.
type run struct {
	done chan struct{}
	err  error
}

// runFeed runs f until the test ends; Run must not return before that.
func runFeed(t *testing.T, f *Feed) *run {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = f.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(waitTimeout):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

// waitReady waits until the feed is positioned, failing if Run gives up.
func waitReady(t *testing.T, f *Feed, r *run) {
	t.Helper()
	select {
	case <-f.Ready():
	case <-r.done:
		t.Fatalf("Run returned before the feed was ready: %v", r.err)
	case <-time.After(waitTimeout):
		t.Fatal("feed not ready in time")
	}
}

// readUntil reads the viewer's frames until one holds the event named name,
// and returns everything read.
func readUntil(t *testing.T, v *hub.Viewer, name string) string {
	t.Helper()
	var got string
	for !strings.Contains(got, "event: "+name+"\n") {
		select {
		case f := <-v.C:
			got += string(f)
		case <-time.After(waitTimeout):
			t.Fatalf("no %s event in time, got %q", name, got)
		}
	}
	return got
}

// A feed whose first broker address is down still starts at the end of the
// live topic, through the next broker: events published before it started
// are not replayed to viewers.
func TestFeedDoesNotReplayWhenTheFirstBrokerIsDown(t *testing.T) {
	up := startBroker(t, true)
	for i := range 3 {
		publishLive(t, up, "daihuo.pin.added.v1", i) // old: before the node starts
	}
	h := hub.New(hub.Options{})
	// Joined before the feed runs, so a replay would reach this viewer.
	v := h.Subscribe("str_1", 0).Viewer
	f := New(append([]string{closedAddr(t)}, up...), h, nil)
	waitReady(t, f, runFeed(t, f))

	publishLive(t, up, "daihuo.pin.removed.v1", 3)
	// The stream's events share a partition: a replay of the old ones
	// would come before the new one.
	got := readUntil(t, v, "pin.removed")
	if strings.Contains(got, "pin.added") {
		t.Fatalf("the feed replayed events published before it started: %q", got)
	}
	if !strings.HasPrefix(got, "id: 4\n") {
		t.Fatalf("new event = %q, want id 4 (its offset 3, plus one)", got)
	}
}

// logSignal is a slog handler that reports each record with a given message.
type logSignal struct {
	msg  string
	once sync.Once
	seen chan struct{}
}

func (l *logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSignal) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logSignal) WithGroup(string) slog.Handler            { return l }
func (l *logSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == l.msg {
		l.once.Do(func() { close(l.seen) })
	}
	return nil
}

// A feed that cannot read the live topic's partitions at start-up (the topic
// does not exist yet) keeps trying instead of ending, and goes live once
// the topic is there.
func TestFeedRetriesUntilItCanStart(t *testing.T) {
	brokers := startBroker(t, false)
	failed := &logSignal{msg: "live feed not started yet, retrying", seen: make(chan struct{})}
	h := hub.New(hub.Options{})
	v := h.Subscribe("str_1", 0).Viewer
	f := New(brokers, h, slog.New(failed))
	r := runFeed(t, f)
	select {
	case <-failed.seen:
	case <-r.done:
		t.Fatalf("Run ended on a start-up failure: %v", r.err)
	case <-time.After(waitTimeout):
		t.Fatal("no failed start-up attempt logged in time")
	}
	createTopics(t, brokers)
	waitReady(t, f, r)
	publishLive(t, brokers, "daihuo.pin.added.v1", 0)
	if got := readUntil(t, v, "pin.added"); !strings.HasPrefix(got, "id: 1\n") {
		t.Fatalf("event = %q, want id 1", got)
	}
}
