package livefeed

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/streaming"
	"github.com/daihuo/daihuo/streaming/hub"
)

func TestSSEName(t *testing.T) {
	tests := map[string]string{
		"daihuo.pin.added.v1":    "pin.added",
		"daihuo.flash.stock.v2":  "flash.stock",
		"daihuo.stream.ended.v1": "stream.ended",
		"daihuo.chat.message.v1": "chat.message",
	}
	for in, want := range tests {
		if got := SSEName(in); got != want {
			t.Errorf("SSEName(%q) = %q, want %q", in, got, want)
		}
	}
}

// Two nodes, each with its own hub and feed on one broker: an event
// published once reaches viewers on both, with the same id.
func TestEveryNodeFansOutEveryLiveEvent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := streaming.StartEmbeddedBroker("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := streaming.EnsureTopics(ctx, b.Addrs(), event.Topics(), 3); err != nil {
		t.Fatal(err)
	}
	var viewers []*hub.Viewer
	for range 2 {
		h := hub.New(hub.Options{})
		f := New(b.Addrs(), h, nil)
		go f.Run(ctx)
		select {
		case <-f.Ready():
		case <-time.After(20 * time.Second):
			t.Fatal("feed not ready within 20s")
		}
		viewers = append(viewers, h.Subscribe("str_1", 0).Viewer)
	}
	p := streaming.NewProducer(b.Addrs(), nil)
	defer p.Close()
	now := time.Now()
	for i, typ := range []string{"daihuo.pin.added.v1", "daihuo.pin.removed.v1"} {
		ev, err := event.New(event.TopicLive, typ, "str_1", map[string]int{"n": i}, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	// Events may come one frame each or together in one: read frames until
	// both are there, and note their ids in order.
	var ids [2][]string
	for n, v := range viewers {
		var got string
		for !strings.Contains(got, "event: pin.removed\n") {
			select {
			case f := <-v.C:
				got += string(f)
			case <-time.After(20 * time.Second):
				t.Fatalf("node %d: not both events within 20s, got %q", n, got)
			}
		}
		if !strings.Contains(got, "event: pin.added\n") || strings.Index(got, "pin.added") > strings.Index(got, "pin.removed") {
			t.Fatalf("node %d got %q, want pin.added then pin.removed", n, got)
		}
		for _, line := range strings.Split(got, "\n") {
			if strings.HasPrefix(line, "id: ") {
				ids[n] = append(ids[n], line)
			}
		}
	}
	if strings.Join(ids[0], ",") != strings.Join(ids[1], ",") || !strings.HasPrefix(ids[0][0], "id: ") {
		t.Fatalf("nodes numbered events differently: %v vs %v", ids[0], ids[1])
	}
}
