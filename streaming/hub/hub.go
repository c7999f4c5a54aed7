// Package hub fans live events out to the viewers connected to this node over
// Server-Sent Events. Each event is encoded once per stream and handed to every
// viewer as the same byte slice; a viewer that cannot keep up is dropped
// instead of slowing anyone else, and reconnects with Last-Event-ID.
//
// A viewer on an HTTP/1.x connection is served by a writer shard once its
// snapshot is written: Serve hijacks the connection and a few shard
// goroutines (one per core) write each frame to their viewers with one
// non-blocking write each, with no goroutine woken per viewer. Other
// viewers (HTTP/2, recorders, Subscribe's callers) get their frames on a
// channel.
package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a Hub.
type Options struct {
	// Buffer is how many frames may wait for one viewer before it is dropped.
	Buffer int
	// History is how many recent events of a stream are kept for resumes.
	History int
	// Heartbeat is the interval of comment lines that keep proxies from
	// closing idle connections.
	Heartbeat time.Duration
	// WriteTimeout is how long a viewer's connection may take nothing of
	// what is written to it before the viewer is dropped (10 s).
	WriteTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Buffer <= 0 {
		o.Buffer = 64
	}
	if o.History <= 0 {
		o.History = 512
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	return o
}

// Event is one live event for a stream's viewers. Seq orders the events of
// a stream and is their SSE id; zero means a transient event (such as a
// viewer count) that is neither numbered nor replayed. ID, when set, is
// the event's own id: the outbox relay may publish an event twice (under a
// new Seq), and a numbered event whose ID is among the room's last
// 4 × History ids is not shown again.
type Event struct {
	Seq  int64
	ID   string
	Type string
	Data any
}

// Hub holds the rooms of the streams that have viewers on this node.
type Hub struct {
	opts   Options
	mu     sync.Mutex
	rooms  map[string]*room
	shards []*shard
	next   atomic.Uint32 // round-robin over the shards
}

// New returns an empty hub. Its writer shards run only while they have
// viewers.
func New(opts Options) *Hub {
	h := &Hub{opts: opts.withDefaults(), rooms: map[string]*room{}}
	for i := range max(1, runtime.GOMAXPROCS(0)) {
		h.shards = append(h.shards, &shard{hub: h, index: i})
	}
	return h
}

type frame struct {
	seq  int64
	id   string
	data []byte
}

type room struct {
	mu      sync.Mutex
	viewers map[*Viewer]struct{} // every viewer, for counts and CloseAll
	chans   map[*Viewer]struct{} // the viewers fed through their channel
	onShard []int                // viewers on each writer shard
	history []frame              // ring of numbered frames, oldest first
	ids     map[string]struct{}  // the ids in recent
	recent  []string             // ring of the last ids seen, next slot at next
	next    int
	lastSeq int64
	active  time.Time // creation, last publish, join or leave: Prune's clock
	pruned  bool      // Prune took the room out of the hub: it must not be used
}

// remember adds id to the room's ring of the last size ids seen, forgetting
// the oldest when full.
func (r *room) remember(id string, size int) {
	if id == "" {
		return
	}
	if len(r.recent) < size {
		r.recent = append(r.recent, id)
	} else {
		delete(r.ids, r.recent[r.next])
		r.recent[r.next] = id
		r.next = (r.next + 1) % size
	}
	r.ids[id] = struct{}{}
}

// newRoom returns an empty room, active from now on: Prune leaves it alone
// until it has been idle for as long as any other room.
func (h *Hub) newRoom() *room {
	return &room{
		viewers: map[*Viewer]struct{}{},
		chans:   map[*Viewer]struct{}{},
		ids:     map[string]struct{}{},
		onShard: make([]int, len(h.shards)),
		active:  time.Now(),
	}
}

// lockRoom returns the stream's room with its lock held, or nil when there
// is none and create is false. The room is looked up under h.mu but locked
// after h.mu is released (Prune locks in the other order): a room that Prune
// took out in between is never returned, the lookup is done again instead,
// so nothing joins or publishes into a room the hub no longer knows.
func (h *Hub) lockRoom(streamID string, create bool) *room {
	for {
		h.mu.Lock()
		r := h.rooms[streamID]
		if r == nil && create {
			r = h.newRoom()
			h.rooms[streamID] = r
		}
		h.mu.Unlock()
		if r == nil {
			return nil
		}
		r.mu.Lock()
		if !r.pruned {
			return r
		}
		r.mu.Unlock()
	}
}

// Viewer is one connected player. Frames arrive on C until Serve hands the
// viewer's connection to a writer shard; Done is closed when the hub drops
// the viewer (for falling behind, a dead connection or CloseAll).
type Viewer struct {
	C      <-chan []byte
	c      chan []byte
	done   chan struct{}
	once   sync.Once
	stream string
	hub    *Hub

	// Set, under the room's lock, when the viewer goes live on a shard.
	conn  net.Conn
	fd    int // conn's descriptor, which the shard writes to
	shard *shard
	gone  chan struct{} // closed once the shard will never write to fd again

	// Owned by the shard's goroutine.
	backlog [][]byte // frames not yet written, the first from sent on
	sent    int
	slot    int // index in the shard's list of the room's viewers
	on      bool
}

// Done is closed when the viewer has been dropped.
func (v *Viewer) Done() <-chan struct{} { return v.done }

// Encode renders an event as one SSE frame.
func Encode(ev Event) ([]byte, error) {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ev.Type, err)
	}
	var b strings.Builder
	b.Grow(len(data) + len(ev.Type) + 32)
	if ev.Seq > 0 {
		b.WriteString("id: ")
		b.WriteString(strconv.FormatInt(ev.Seq, 10))
		b.WriteByte('\n')
	}
	b.WriteString("event: ")
	b.WriteString(ev.Type)
	b.WriteString("\ndata: ")
	b.Write(data) // JSON from encoding/json never holds a raw newline
	b.WriteString("\n\n")
	return []byte(b.String()), nil
}

// Publish encodes ev once and queues it for every viewer of the stream.
// Numbered events older than the last one seen are ignored, so a redelivered
// event is not shown twice.
func (h *Hub) Publish(streamID string, ev Event) error {
	return h.PublishBatch(streamID, []Event{ev})
}

// PublishBatch queues events of one stream that arrived together as one
// frame per viewer: one wake-up and one write each, however many events
// (an unpin and the pin that replaced it, say). Each event is encoded once
// and kept in the history on its own, for resumes.
func (h *Hub) PublishBatch(streamID string, evs []Event) error {
	frames := make([]frame, 0, len(evs))
	for _, ev := range evs {
		f, err := Encode(ev)
		if err != nil {
			return err
		}
		frames = append(frames, frame{seq: ev.Seq, id: ev.ID, data: f})
	}
	// Numbered events make a room even without viewers: it keeps their
	// history, so the first viewer can resume.
	numbered := slices.ContainsFunc(frames, func(f frame) bool { return f.seq > 0 })
	r := h.lockRoom(streamID, numbered)
	if r == nil {
		return nil
	}
	r.active = time.Now()
	var kept [][]byte
	for _, f := range frames {
		if f.seq > 0 {
			if f.seq <= r.lastSeq {
				continue // redelivered
			}
			if _, seen := r.ids[f.id]; seen && f.id != "" {
				continue // published again by the relay, under a new number
			}
			r.lastSeq = f.seq
			r.history = append(r.history, f)
			r.remember(f.id, 4*h.opts.History)
		}
		kept = append(kept, f.data)
	}
	if n := len(r.history) - h.opts.History; n > 0 {
		r.history = append(r.history[:0], r.history[n:]...)
	}
	if len(kept) == 0 {
		r.mu.Unlock()
		return nil
	}
	out := kept[0] // one event: the frame as encoded, shared by every viewer
	if len(kept) > 1 {
		out = bytes.Join(kept, nil)
	}
	var slow []*Viewer
	for v := range r.chans {
		select {
		case v.c <- out:
		default:
			slow = append(slow, v)
		}
	}
	for _, v := range slow {
		delete(r.viewers, v)
		delete(r.chans, v)
		v.drop()
	}
	// One hand-off per shard, whatever its number of viewers; under the
	// room's lock, so every shard sees the room's frames in order.
	for i, n := range r.onShard {
		if n > 0 {
			h.shards[i].send(op{kind: opFrame, room: r, frames: [][]byte{out}})
		}
	}
	r.mu.Unlock()
	return nil
}

// Subscription is what a new viewer needs before its first live frame.
type Subscription struct {
	Viewer *Viewer
	// Replay holds the held events after the viewer's Last-Event-ID.
	Replay [][]byte
	// Resumed reports that Replay closes the viewer's gap; when false the
	// viewer needs a fresh snapshot.
	Resumed bool
	// Seq is the newest event the hub had seen when the viewer joined: the id
	// to give a snapshot taken now.
	Seq int64
}

// Subscribe adds a viewer to a stream. When lastSeq is positive and the hub
// still holds every event after it, those events come back for replay;
// otherwise the caller must send a fresh snapshot.
func (h *Hub) Subscribe(streamID string, lastSeq int64) Subscription {
	c := make(chan []byte, h.opts.Buffer)
	v := &Viewer{C: c, c: c, done: make(chan struct{}), stream: streamID, hub: h}
	r := h.lockRoom(streamID, true)
	defer r.mu.Unlock()
	r.viewers[v] = struct{}{}
	r.chans[v] = struct{}{}
	r.active = time.Now()
	sub := Subscription{Viewer: v, Seq: r.lastSeq}
	switch {
	case lastSeq <= 0 || lastSeq > r.lastSeq:
		// A fresh viewer, or an id this hub never issued: start from a snapshot.
	case lastSeq == r.lastSeq:
		sub.Resumed = true
	case len(r.history) > 0 && r.history[0].seq <= lastSeq+1:
		// The history reaches back to the event right after lastSeq.
		sub.Resumed = true
		for _, f := range r.history {
			if f.seq > lastSeq {
				sub.Replay = append(sub.Replay, f.data)
			}
		}
	}
	return sub
}

// Unsubscribe removes a viewer; it is safe to call more than once.
func (h *Hub) Unsubscribe(v *Viewer) {
	r := h.lockRoom(v.stream, false)
	if r == nil {
		return
	}
	r.leave(v)
	r.active = time.Now()
	r.mu.Unlock()
}

// leave takes a viewer out of the room, and off its shard; under r.mu.
func (r *room) leave(v *Viewer) {
	if _, ok := r.viewers[v]; !ok {
		return
	}
	delete(r.viewers, v)
	delete(r.chans, v)
	if s := v.shard; s != nil {
		r.onShard[s.index]--
		s.send(op{kind: opLeave, room: r, viewer: v})
	}
}

// goLive moves a viewer whose snapshot has been written to conn from its
// channel to a writer shard, which writes to the descriptor fd, with the
// frames that queued up meanwhile. It reports false when the viewer was
// dropped or left in the meantime. Once it went live, conn must not be
// closed before v.gone is: fd could be another connection's by then.
func (h *Hub) goLive(v *Viewer, conn net.Conn, fd int) bool {
	r := h.lockRoom(v.stream, false)
	if r == nil {
		return false
	}
	defer r.mu.Unlock()
	if _, ok := r.viewers[v]; !ok {
		return false
	}
	delete(r.chans, v)
	// Publish sends on the channel under r.mu: it holds every frame so far.
	var queued [][]byte
	for len(v.c) > 0 {
		queued = append(queued, <-v.c)
	}
	v.C, v.c = nil, nil
	s := h.shards[int(h.next.Add(1))%len(h.shards)]
	v.conn, v.fd, v.shard, v.gone = conn, fd, s, make(chan struct{})
	r.onShard[s.index]++
	s.send(op{kind: opJoin, room: r, viewer: v, frames: queued})
	return true
}

// CloseAll drops every viewer, ending their streams: on shutdown, so the
// server can finish its requests instead of waiting on endless streams.
// Players reconnect, to another node, with their Last-Event-ID.
func (h *Hub) CloseAll() {
	h.mu.Lock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.Unlock()
	var live []*Viewer
	for _, r := range rooms {
		r.mu.Lock()
		for v := range r.viewers {
			if v.shard != nil {
				live = append(live, v)
			}
			r.leave(v)
			v.drop()
		}
		r.mu.Unlock()
	}
	// http.Server.Shutdown does not track hijacked connections: close them
	// here, once off their shards, rather than rely on their handlers.
	for _, v := range live {
		<-v.gone
		_ = v.conn.Close()
	}
}

// Prune forgets the rooms that have had no viewers and no events for idle,
// with their history: streams that ended or that nobody on this node
// watches any more. A viewer resuming later gets a fresh snapshot.
func (h *Hub) Prune(idle time.Duration) int {
	cutoff := time.Now().Add(-idle)
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for id, r := range h.rooms {
		r.mu.Lock()
		if len(r.viewers) == 0 && r.active.Before(cutoff) {
			delete(h.rooms, id)
			r.pruned = true
			n++
		}
		r.mu.Unlock()
	}
	return n
}

// Viewers is how many viewers of the stream are connected to this node.
func (h *Hub) Viewers(streamID string) int {
	r := h.lockRoom(streamID, false)
	if r == nil {
		return 0
	}
	defer r.mu.Unlock()
	return len(r.viewers)
}

// Streams lists the streams with at least one viewer on this node and their counts.
func (h *Hub) Streams() map[string]int {
	h.mu.Lock()
	rooms := make(map[string]*room, len(h.rooms))
	for id, r := range h.rooms {
		rooms[id] = r
	}
	h.mu.Unlock()
	out := map[string]int{}
	for id, r := range rooms {
		r.mu.Lock()
		if n := len(r.viewers); n > 0 {
			out[id] = n
		}
		r.mu.Unlock()
	}
	return out
}

// drop ends the viewer: Done closes and, for a viewer on a shard, its
// handler (parked reading the connection) wakes up to close it.
func (v *Viewer) drop() {
	v.once.Do(func() {
		close(v.done)
		if v.conn != nil {
			_ = v.conn.SetReadDeadline(time.Unix(1, 0))
		}
	})
}
