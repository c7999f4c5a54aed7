package hub

import (
	"bytes"
	"errors"
	"sync"
	"syscall"
	"time"
)

// pingFrame is the heartbeat: an SSE comment.
const pingFrame = ": ping\n\n"

// retryEvery is how soon a shard tries again to write to viewers whose
// socket buffer was full.
const retryEvery = 10 * time.Millisecond

type opKind uint8

const (
	opJoin  opKind = iota // a viewer goes live, with the frames queued before
	opFrame               // frames for a room's viewers
	opLeave               // a viewer left
)

// op is one message to a shard, applied in the order sent.
type op struct {
	kind   opKind
	room   *room
	viewer *Viewer
	frames [][]byte
}

// shard writes the frames of its viewers' rooms to their connections, from
// one goroutine that runs while the shard has viewers or work. Each frame is
// written to each viewer with one non-blocking write: a viewer whose socket
// buffer is full keeps the rest in its backlog, retried soon after, and is
// dropped once the backlog holds more than Options.Buffer frames.
type shard struct {
	hub   *Hub
	index int

	mu      sync.Mutex
	ops     []op
	running bool
	wake    chan struct{}

	// Owned by the running goroutine.
	rooms   map[*room]*viewerList
	viewers int
	slow    map[*Viewer]*room
	start   time.Time
}

// viewerList is a room's viewers on a shard, kept compact: a frame's round
// reads and writes only these entries, not the viewers behind them.
type viewerList struct{ entries []entry }

type entry struct {
	fd   int
	last int64 // shard clock of the last write, for heartbeats
	slow bool  // the viewer has a backlog
	v    *Viewer
}

// send queues an op and wakes, or starts, the shard's goroutine.
func (s *shard) send(o op) {
	s.mu.Lock()
	s.ops = append(s.ops, o)
	if !s.running {
		s.running = true
		if s.wake == nil {
			s.wake = make(chan struct{}, 1)
			s.rooms = map[*room]*viewerList{}
			s.slow = map[*Viewer]*room{}
			s.start = time.Now()
		}
		s.mu.Unlock()
		go s.run()
		return
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run applies ops until the shard has neither viewers nor ops left.
func (s *shard) run() {
	heartbeat := time.NewTicker(s.hub.opts.Heartbeat / 2)
	defer heartbeat.Stop()
	retry := time.NewTimer(retryEvery)
	defer retry.Stop()
	var ops []op
	for {
		s.mu.Lock()
		ops, s.ops = s.ops, ops[:0]
		if len(ops) == 0 && s.viewers == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.apply(ops)
		clear(ops) // let the frames go
		if len(ops) > 0 {
			continue // more may have come in meanwhile
		}
		if len(s.slow) > 0 {
			retry.Reset(retryEvery)
		}
		select {
		case <-s.wake:
		case <-heartbeat.C:
			s.beat()
		case <-retry.C:
			s.retrySlow()
		}
	}
}

// apply carries out a run of ops. Consecutive frames for one room are
// joined into one buffer: one write per viewer however many came in.
func (s *shard) apply(ops []op) {
	now := s.clock()
	for i := 0; i < len(ops); i++ {
		o := ops[i]
		switch o.kind {
		case opJoin:
			v := o.viewer
			l := s.rooms[o.room]
			if l == nil {
				l = &viewerList{}
				s.rooms[o.room] = l
			}
			v.slot, v.on = len(l.entries), true
			l.entries = append(l.entries, entry{fd: v.fd, last: now, v: v})
			s.viewers++
			if len(o.frames) > 0 {
				v.backlog = o.frames
				l.entries[v.slot].slow = true
				s.flush(o.room, v)
			}
		case opLeave:
			s.remove(o.room, o.viewer)
		case opFrame:
			frames := o.frames
			for i+1 < len(ops) && ops[i+1].kind == opFrame && ops[i+1].room == o.room {
				i++
				frames = append(frames, ops[i].frames...)
			}
			f := frames[0]
			if len(frames) > 1 {
				f = bytes.Join(frames, nil)
			}
			s.deliver(o.room, f, now)
		}
	}
}

// deliver writes one frame to every viewer of the room on this shard.
func (s *shard) deliver(r *room, f []byte, now int64) {
	l := s.rooms[r]
	if l == nil {
		return
	}
	for i := 0; i < len(l.entries); {
		e := &l.entries[i]
		if !e.slow {
			// The common case: the whole frame fits in the socket buffer.
			n, err := writeFD(e.fd, f)
			if n == len(f) {
				e.last = now
				i++
				continue
			}
			if s.stalled(r, e, f, n, err, now) {
				i++
			}
			continue
		}
		if s.queue(r, e.v, f) {
			i++
		}
		// Else the viewer was dropped: remove moved the last one into slot i.
	}
}

// stalled handles a write of f that did not take it whole: the rest goes
// to the viewer's backlog, or a dead connection drops it. It reports
// whether the viewer is still on the shard.
func (s *shard) stalled(r *room, e *entry, f []byte, n int, err error, now int64) bool {
	if err != nil && !retryable(err) {
		s.drop(r, e.v) // the peer is gone (EPIPE, ECONNRESET)
		return false
	}
	n = max(n, 0)
	e.last = now // the stall's clock starts
	e.slow = true
	e.v.backlog, e.v.sent = append(e.v.backlog[:0], f), n
	s.slow[e.v] = r
	return true
}

// queue adds f behind v's backlog and writes what it can; a backlog past
// the Buffer limit drops the viewer. It reports whether v is still on.
func (s *shard) queue(r *room, v *Viewer, f []byte) bool {
	if len(v.backlog) >= s.hub.opts.Buffer {
		s.drop(r, v)
		return false
	}
	v.backlog = append(v.backlog, f)
	return s.flush(r, v)
}

// flush writes as much of v's backlog as the socket takes. It reports
// whether v is still on the shard.
func (s *shard) flush(r *room, v *Viewer) bool {
	e := &s.rooms[r].entries[v.slot]
	for len(v.backlog) > 0 {
		b := v.backlog[0][v.sent:]
		n, err := writeFD(e.fd, b)
		if n > 0 {
			e.last = s.clock()
		}
		if n == len(b) {
			v.backlog[0] = nil
			v.backlog, v.sent = v.backlog[1:], 0
			continue
		}
		if err != nil && !retryable(err) {
			s.drop(r, v)
			return false
		}
		v.sent += max(n, 0)
		s.slow[v] = r
		return true
	}
	v.backlog, e.slow = nil, false
	delete(s.slow, v)
	return true
}

// retrySlow flushes the backlogs of the viewers whose socket was full,
// and drops those that have taken nothing for Options.WriteTimeout.
func (s *shard) retrySlow() {
	now := s.clock()
	for v, r := range s.slow {
		if s.flush(r, v) && len(v.backlog) > 0 && now-s.rooms[r].entries[v.slot].last > int64(s.hub.opts.WriteTimeout) {
			s.drop(r, v)
		}
	}
}

// beat writes a heartbeat to the viewers that have had nothing for half
// the heartbeat interval; a dead connection fails the write and goes.
func (s *shard) beat() {
	now := s.clock()
	idle := int64(s.hub.opts.Heartbeat / 2)
	ping := []byte(pingFrame) // one copy per round: a backlog may keep it
	for r, l := range s.rooms {
		for i := 0; i < len(l.entries); {
			e := &l.entries[i]
			if e.slow || now-e.last < idle {
				i++
				continue
			}
			n, err := writeFD(e.fd, ping)
			if n == len(ping) || s.stalled(r, e, ping, n, err, now) {
				e.last = now
				i++
			}
		}
	}
	s.retrySlow()
}

// drop ends a viewer the shard cannot write to and takes it off the shard.
func (s *shard) drop(r *room, v *Viewer) {
	v.drop()
	s.remove(r, v)
}

// remove takes v off the shard, for good; a no-op when it is not on it.
func (s *shard) remove(r *room, v *Viewer) {
	if !v.on {
		return
	}
	l := s.rooms[r]
	i, last := v.slot, len(l.entries)-1
	l.entries[i] = l.entries[last]
	l.entries[i].v.slot = i
	l.entries[last] = entry{}
	l.entries = l.entries[:last]
	if last == 0 {
		delete(s.rooms, r)
	}
	v.on = false
	v.backlog = nil
	delete(s.slow, v)
	s.viewers--
	close(v.gone) // its connection may be closed now
}

// clock is the shard's monotonic time in nanoseconds.
func (s *shard) clock() int64 { return int64(time.Since(s.start)) }

// retryable reports a write that failed only for want of buffer space.
func retryable(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR)
}
