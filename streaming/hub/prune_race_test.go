package hub

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// A Prune running while a viewer joins a new room, or while the first event
// of a stream creates its room, must not leave the viewer or the event in a
// room the hub no longer knows. The race window is a few instructions wide,
// so each case tries many fresh rooms against Prunes that never stop, for a
// bounded time; every check itself is exact (Publish hands frames to the
// viewer's channel before it returns).
func TestPruneDuringJoinOrFirstPublish(t *testing.T) {
	tests := []struct {
		name string
		idle time.Duration
		// resumable: a room created by a publish outlives Prune, so a
		// viewer with that event's id resumes. Prune(0) may rightly forget
		// a room without viewers at any moment.
		resumable bool
	}{
		{"prune everything idle", 0, false},
		{"prune rooms idle for an hour", time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(Options{})
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
							h.Prune(tt.idle)
						}
					}
				}()
			}
			defer func() {
				close(stop)
				wg.Wait()
			}()
			deadline := time.Now().Add(time.Second)
			for i := 0; i < 20000 && time.Now().Before(deadline); i++ {
				id := "s" + strconv.Itoa(i)
				var last int64
				if i%2 == 1 {
					// The room is created by a publish, then joined.
					if err := h.Publish(id, Event{Seq: 1, Type: "pin.added", Data: i}); err != nil {
						t.Fatal(err)
					}
					last = 1
				}
				sub := h.Subscribe(id, last)
				if tt.resumable && last > 0 && (!sub.Resumed || sub.Seq != last) {
					t.Fatalf("round %d: a room with an event just published was pruned under it: %+v", i, sub)
				}
				if err := h.Publish(id, Event{Seq: 2, Type: "pin.added", Data: i}); err != nil {
					t.Fatal(err)
				}
				select {
				case <-sub.Viewer.C:
				default:
					t.Fatalf("round %d: the viewer of a new room missed the event published after it joined (room pruned under it)", i)
				}
				if n := h.Viewers(id); n != 1 {
					t.Fatalf("round %d: Viewers = %d, want 1", i, n)
				}
				h.Unsubscribe(sub.Viewer)
			}
		})
	}
}
