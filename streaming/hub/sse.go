package hub

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"time"
)

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
//
// On HTTP/1.x Serve hijacks the connection once the snapshot is ready,
// writes the response head and the snapshot itself and hands the viewer to
// a writer shard; the handler then stays parked reading the connection, so
// a peer that closes it is noticed without any wake-up per event, until the
// viewer is done. Where the connection cannot be hijacked (HTTP/2, a
// recorder) the viewer is fed by this goroutine through w.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, streamID string, snapshot Snapshot) error {
	sub := h.Subscribe(streamID, LastEventID(r))
	v := sub.Viewer
	defer h.Unsubscribe(v)

	first := [][]byte{[]byte(retryFrame)}
	if sub.Resumed {
		first = append(first, sub.Replay...)
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
		first = append(first, f)
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	if conn := hijack(w, r); conn != nil {
		h.serveConn(v, conn, hdr, first)
		return nil
	}

	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	// The deadline is moved only when less than half of it is left: setting
	// it costs a timer update, and this runs for every event of every viewer.
	var deadline time.Time
	write := func(frames ...[]byte) error {
		if now := time.Now(); deadline.Sub(now) < h.opts.WriteTimeout/2 {
			deadline = now.Add(h.opts.WriteTimeout)
			_ = rc.SetWriteDeadline(deadline)
		}
		for _, f := range frames {
			if _, err := w.Write(f); err != nil {
				return err
			}
		}
		return rc.Flush()
	}
	if err := write(first...); err != nil {
		return nil
	}
	h.pump(v, write, r.Context().Done())
	return nil
}

// retryFrame tells the browser to reconnect after 2 s.
const retryFrame = "retry: 2000\n\n"

// hijack takes over an HTTP/1.x connection, or returns nil when it cannot
// (HTTP/2, TLS, a writer that does not hijack, no raw writes on this
// system). Whatever the connection had buffered from the viewer is dropped:
// a viewer sends nothing after its request.
func hijack(w http.ResponseWriter, r *http.Request) net.Conn {
	if !rawWrites || r.ProtoMajor != 1 || r.TLS != nil {
		return nil
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil
	}
	return conn
}

// serveConn serves a viewer on a hijacked connection: the response head,
// retry and first frames in one write, then the viewer goes live on a
// writer shard while this goroutine waits, reading, until it is done.
func (h *Hub) serveConn(v *Viewer, conn net.Conn, hdr http.Header, first [][]byte) {
	defer conn.Close()
	// The body runs until the connection closes: no length, no chunking.
	hdr.Set("Connection", "close")
	hdr.Del("Content-Length")
	hdr.Del("Transfer-Encoding")
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	_ = hdr.Write(&b)
	b.WriteString("\r\n")
	for _, f := range first {
		b.Write(f)
	}
	write := func(frames ...[]byte) error {
		_ = conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
		for _, f := range frames {
			if _, err := conn.Write(f); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(b.Bytes()); err != nil {
		return
	}
	fd, err := descriptor(conn)
	if err != nil {
		// A connection without a descriptor (a wrapping listener's): feed
		// it from here.
		h.pump(v, write, nil)
		return
	}
	_ = conn.SetWriteDeadline(time.Time{})
	if !h.goLive(v, conn, fd) {
		return
	}
	// Park until the viewer is done: the read ends when the peer closes or
	// resets the connection, or when the hub drops the viewer (drop moves
	// the read deadline into the past). Anything the peer sends is dropped.
	buf := make([]byte, 64)
	for {
		if _, err := conn.Read(buf); err != nil {
			break
		}
	}
	v.drop()
	// The descriptor may be closed (and reused) only once the shard is done
	// with it.
	h.Unsubscribe(v)
	<-v.gone
}

// pump feeds a viewer from its channel through write, with heartbeats,
// until it is dropped, done closes or a write fails.
func (h *Hub) pump(v *Viewer, write func(frames ...[]byte) error, done <-chan struct{}) {
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
				return
			}
		case <-heartbeat.C:
			if err := write([]byte(pingFrame)); err != nil {
				return
			}
		case <-v.Done():
			return
		case <-done:
			return
		}
	}
}
