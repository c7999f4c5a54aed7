package hub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Naive is the textbook fan-out that Hub is measured against in
// `daihuo bench fanout`: one lock around every viewer, and each event encoded
// and written to each viewer in turn by the publisher. It is correct but a
// slow viewer delays all the others, and encoding happens once per viewer.
// It is not used outside the benchmark.
type Naive struct {
	mu      sync.Mutex
	viewers map[string]map[*naiveViewer]struct{}
}

type naiveViewer struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	done chan struct{}
	once sync.Once
}

// NewNaive returns an empty naive hub.
func NewNaive() *Naive { return &Naive{viewers: map[string]map[*naiveViewer]struct{}{}} }

// Publish writes ev to every viewer of the stream under the hub's lock.
func (n *Naive) Publish(streamID string, ev Event) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for v := range n.viewers[streamID] {
		data, err := json.Marshal(ev.Data)
		if err != nil {
			return err
		}
		if ev.Seq > 0 {
			_, err = fmt.Fprintf(v.w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, data)
		} else {
			_, err = fmt.Fprintf(v.w, "event: %s\ndata: %s\n\n", ev.Type, data)
		}
		if err == nil {
			err = v.rc.Flush()
		}
		if err != nil {
			delete(n.viewers[streamID], v)
			v.once.Do(func() { close(v.done) })
		}
	}
	return nil
}

// PublishBatch publishes each event in turn.
func (n *Naive) PublishBatch(streamID string, evs []Event) error {
	for _, ev := range evs {
		if err := n.Publish(streamID, ev); err != nil {
			return err
		}
	}
	return nil
}

// Serve sends the snapshot, then holds the connection while Publish writes to it.
func (n *Naive) Serve(w http.ResponseWriter, r *http.Request, streamID string, snapshot Snapshot) error {
	ev, err := snapshot(r.Context())
	if err != nil {
		return err
	}
	v := &naiveViewer{w: w, rc: http.NewResponseController(w), done: make(chan struct{})}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_ = v.rc.SetWriteDeadline(time.Time{}) // the server's WriteTimeout must not end the stream
	n.mu.Lock()
	f, err := Encode(ev)
	if err == nil {
		_, err = w.Write(f)
	}
	if err == nil {
		err = v.rc.Flush()
	}
	if n.viewers[streamID] == nil {
		n.viewers[streamID] = map[*naiveViewer]struct{}{}
	}
	n.viewers[streamID][v] = struct{}{}
	n.mu.Unlock()
	if err != nil {
		n.remove(streamID, v)
		return nil
	}
	select {
	case <-r.Context().Done():
	case <-v.done:
	}
	n.remove(streamID, v)
	return nil
}

func (n *Naive) remove(streamID string, v *naiveViewer) {
	n.mu.Lock()
	delete(n.viewers[streamID], v)
	n.mu.Unlock()
}

// CloseAll drops every viewer.
func (n *Naive) CloseAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, vs := range n.viewers {
		for v := range vs {
			delete(vs, v)
			v.once.Do(func() { close(v.done) })
		}
	}
}

// Prune is a no-op: the naive hub keeps no history.
func (n *Naive) Prune(time.Duration) int { return 0 }

// Viewers is how many viewers of the stream are connected.
func (n *Naive) Viewers(streamID string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.viewers[streamID])
}

// Streams lists streams with viewers and their counts.
func (n *Naive) Streams() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]int{}
	for id, vs := range n.viewers {
		if len(vs) > 0 {
			out[id] = len(vs)
		}
	}
	return out
}
