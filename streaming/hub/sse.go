package hub

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// writeTimeout bounds one write to a viewer, so a stuck connection ends
// instead of holding its goroutine forever.
const writeTimeout = 10 * time.Second

// Snapshot returns the current state of a stream as the first event a
// viewer sees.
type Snapshot func(ctx context.Context) (Event, error)

// LastEventID reads the id a reconnecting viewer last saw, from the
// Last-Event-ID header or, for clients that cannot set headers, the
// last_event_id query parameter. Zero means none.
func LastEventID(r *http.Request) int64 {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("last_event_id")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Serve streams a stream's events to one viewer until the request ends or
// the viewer is dropped: a snapshot first (or the missed events when the
// viewer resumes), then live frames and heartbeats.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, streamID string, snapshot Snapshot) error {
	sub := h.Subscribe(streamID, LastEventID(r))
	v := sub.Viewer
	defer h.Unsubscribe(v)

	var first [][]byte
	if sub.Resumed {
		first = sub.Replay
	} else {
		ev, err := snapshot(r.Context())
		if err != nil {
			return err
		}
		ev.Seq = sub.Seq
		f, err := Encode(ev)
		if err != nil {
			return err
		}
		first = [][]byte{f}
	}

	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The deadline is moved only when less than half of it is left: setting
	// it costs a timer update, and this runs for every event of every viewer.
	var deadline time.Time
	write := func(frames ...[]byte) error {
		if now := time.Now(); deadline.Sub(now) < writeTimeout/2 {
			deadline = now.Add(writeTimeout)
			_ = rc.SetWriteDeadline(deadline)
		}
		for _, f := range frames {
			if _, err := w.Write(f); err != nil {
				return err
			}
		}
		return rc.Flush()
	}
	if err := write(append([][]byte{[]byte("retry: 2000\n\n")}, first...)...); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(h.opts.Heartbeat)
	defer heartbeat.Stop()
	batch := make([][]byte, 0, 16)
	for {
		select {
		case f := <-v.C:
			batch = append(batch[:0], f)
			// Write whatever else is already queued with one flush.
		more:
			for len(batch) < cap(batch) {
				select {
				case f := <-v.C:
					batch = append(batch, f)
				default:
					break more
				}
			}
			if err := write(batch...); err != nil {
				return nil
			}
		case <-heartbeat.C:
			if err := write([]byte(": ping\n\n")); err != nil {
				return nil
			}
		case <-v.Done():
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}
