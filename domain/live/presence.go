package live

import (
	"context"
	"sync"
	"time"
)

// PresenceStore keeps how many viewers each node has per stream, and who
// has ever watched.
type PresenceStore interface {
	// Beat records this node's viewer counts at at; a zero count says the
	// node has no viewers of that stream any more.
	Beat(ctx context.Context, node string, counts map[string]int, at time.Time) error
	// Totals sums, per stream, the counts of nodes heard from since since.
	Totals(ctx context.Context, streamIDs []string, since time.Time) (map[string]int, error)
	// RaisePeaks lifts each stream's peak viewers to its total when higher.
	RaisePeaks(ctx context.Context, totals map[string]int) error
	// AddViewers records viewers by a stable key, once per stream.
	AddViewers(ctx context.Context, seen []Seen) error
	// Audience returns a stream's peak and unique viewers.
	Audience(ctx context.Context, streamID string) (peak, unique int64, err error)
	// ForgetNodes deletes the counts of nodes not heard from since before:
	// nodes that stopped or died, and streams a node no longer shows.
	ForgetNodes(ctx context.Context, before time.Time) error
}

// forgetAfter is how many windows a count outlives its last beat before
// Run deletes it; Totals stopped summing it after one window already.
const forgetAfter = 30

// maxSeenQueue bounds the viewers queued for the unique count while the
// store cannot take them; past it the oldest are dropped.
const maxSeenQueue = 100_000

// leaveTimeout bounds the last beat of a node that stops.
const leaveTimeout = 5 * time.Second

// Seen is a viewer who opened a stream, by a key stable across visits (the
// shopper id, or a hash for anonymous viewers).
type Seen struct {
	StreamID string
	Key      string
	At       time.Time
}

// Presence counts a stream's viewers across every node: each node beats its
// own counts into the store every interval and broadcasts the sum to its
// viewers when it changes.
type Presence struct {
	store     PresenceStore
	node      string
	local     func() map[string]int
	broadcast func(streamID string, viewers int)
	now       func() time.Time
	interval  time.Duration

	mu   sync.Mutex
	last map[string]int // totals broadcast last, per stream with local viewers
	seen []Seen

	forgotAt time.Time // when Beat last deleted stale counts
}

// NewPresence returns the presence loop of one node. local reports the
// node's viewers per stream; broadcast shows a new total to them.
func NewPresence(store PresenceStore, node string, local func() map[string]int, broadcast func(string, int), now func() time.Time, interval time.Duration) *Presence {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	return &Presence{store: store, node: node, local: local, broadcast: broadcast, now: now, interval: interval, last: map[string]int{}}
}

// Window is how long a node's beat counts; a node silent for longer (it
// died) stops counting.
func (p *Presence) Window() time.Duration { return 3 * p.interval }

// Saw queues a viewer for the unique-viewer count, written at the next beat.
func (p *Presence) Saw(streamID, key string) {
	p.mu.Lock()
	p.seen = append(p.seen, Seen{StreamID: streamID, Key: key, At: p.now().UTC()})
	p.mu.Unlock()
}

// Viewers is the stream's current viewer count across nodes.
func (p *Presence) Viewers(ctx context.Context, streamID string) (int, error) {
	t, err := p.store.Totals(ctx, []string{streamID}, p.now().UTC().Add(-p.Window()))
	return t[streamID], err
}

// Beat runs one round: record this node's counts, read the totals, raise
// peaks and broadcast totals that changed; now and then, forget the counts
// of nodes gone silent.
func (p *Presence) Beat(ctx context.Context) error {
	if err := p.forget(ctx); err != nil {
		return err
	}
	now := p.now().UTC()
	counts := p.local()
	p.mu.Lock()
	for id := range p.last {
		if _, ok := counts[id]; !ok {
			counts[id] = 0 // last viewer left: clear this node's share
		}
	}
	p.mu.Unlock()
	if err := p.flushSeen(ctx); err != nil {
		return err
	}
	if len(counts) == 0 {
		return nil
	}
	if err := p.store.Beat(ctx, p.node, counts, now); err != nil {
		return err
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	totals, err := p.store.Totals(ctx, ids, now.Add(-p.Window()))
	if err != nil {
		return err
	}
	if err := p.store.RaisePeaks(ctx, totals); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		total := totals[id]
		if counts[id] == 0 {
			delete(p.last, id)
			continue
		}
		if prev, ok := p.last[id]; !ok || prev != total {
			p.broadcast(id, total)
		}
		p.last[id] = total
	}
	return nil
}

// flushSeen writes the queued viewers; when the store fails they stay
// queued for the next beat (Saw is called once per connection, so a
// dropped viewer would never count).
func (p *Presence) flushSeen(ctx context.Context) error {
	p.mu.Lock()
	seen := p.seen
	p.seen = nil
	p.mu.Unlock()
	if len(seen) == 0 {
		return nil
	}
	err := p.store.AddViewers(ctx, seen)
	if err != nil {
		p.mu.Lock()
		p.seen = append(seen, p.seen...)
		if over := len(p.seen) - maxSeenQueue; over > 0 {
			p.seen = p.seen[over:]
		}
		p.mu.Unlock()
	}
	return err
}

// Run beats every interval until ctx ends, reporting failed beats to onErr.
// Then it leaves: the node's queued viewers are written and its counts set
// to zero, so its viewers, reconnecting to other nodes, are not counted
// twice until its last beat ages out of the window.
func (p *Presence) Run(ctx context.Context, onErr func(error)) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := p.Beat(ctx); err != nil && ctx.Err() == nil {
				onErr(err)
			}
		case <-ctx.Done():
			if err := p.leave(context.WithoutCancel(ctx)); err != nil {
				onErr(err)
			}
			return nil
		}
	}
}

// leave writes the queued viewers and a zero count for every stream this
// node still counts.
func (p *Presence) leave(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout)
	defer cancel()
	seenErr := p.flushSeen(ctx)
	p.mu.Lock()
	zero := make(map[string]int, len(p.last))
	for id := range p.last {
		zero[id] = 0
	}
	p.last = map[string]int{}
	p.mu.Unlock()
	if len(zero) == 0 {
		return seenErr
	}
	if err := p.store.Beat(ctx, p.node, zero, p.now().UTC()); err != nil {
		return err
	}
	return seenErr
}

// forget deletes, once per forgetAfter windows, the counts of every node
// that has not beaten for that long, so a node id that restarts or dies
// (each process has its own) leaves no row behind for good.
func (p *Presence) forget(ctx context.Context) error {
	now := p.now().UTC()
	horizon := forgetAfter * p.Window()
	p.mu.Lock()
	due := now.Sub(p.forgotAt) >= horizon
	if due {
		p.forgotAt = now
	}
	p.mu.Unlock()
	if !due {
		return nil
	}
	return p.store.ForgetNodes(ctx, now.Add(-horizon))
}
