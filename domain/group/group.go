// Package group commits many callers' writes together: the calls made
// while a batch is in flight become the next batch, so a crowd of writers
// shares commits instead of queueing on one commit each.
package group

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// timeout bounds one batch.
const timeout = 10 * time.Second

// Group batches the calls made while its previous batch is in flight into
// the next one: one statement (one commit) for many callers, where one per
// caller would make a crowd queue on commits. There is no goroutine to stop:
// the caller that finds no batch in flight leads, and a leader that finds
// more calls queued after its batch hands on to a new goroutine. run gets
// at most max items and answers each (results[i] for items[i]) or fails
// them all.
type Group[T, R any] struct {
	max int
	run func(ctx context.Context, items []T) ([]R, error)

	mu    sync.Mutex
	queue []*call[T, R]
	busy  bool
}

// New returns a group running at most max items per batch through run.
func New[T, R any](max int, run func(ctx context.Context, items []T) ([]R, error)) *Group[T, R] {
	return &Group[T, R]{max: max, run: run}
}

type call[T, R any] struct {
	item T
	res  R
	err  error
	done chan struct{}
}

// Do queues item and returns its result once its batch ran; a caller whose
// ctx ends first gets ctx.Err(), though its batch may still run.
func (g *Group[T, R]) Do(ctx context.Context, item T) (R, error) {
	c := &call[T, R]{item: item, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	if lead {
		g.drain(context.WithoutCancel(ctx))
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

// drain runs one batch, then hands what queued meanwhile to a new
// goroutine, or stops leading when nothing did.
func (g *Group[T, R]) drain(ctx context.Context) {
	g.mu.Lock()
	n := min(len(g.queue), g.max)
	batch := g.queue[:n:n]
	if g.queue = g.queue[n:]; len(g.queue) == 0 {
		g.queue = nil
	}
	g.mu.Unlock()

	items := make([]T, len(batch))
	for i, c := range batch {
		items[i] = c.item
	}
	res, err := g.runBatch(ctx, items)
	for i, c := range batch {
		if err != nil {
			c.err = err
		} else {
			c.res = res[i]
		}
		close(c.done)
	}

	g.mu.Lock()
	more := len(g.queue) > 0
	g.busy = more
	g.mu.Unlock()
	if more {
		go g.drain(ctx)
	}
}

// runBatch runs one batch within the timeout. A run that panics or answers
// the wrong number of results fails its batch with an error instead: a
// panic would otherwise leave the group busy for good, and every later
// caller waiting forever.
func (g *Group[T, R]) runBatch(ctx context.Context, items []T) (res []R, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("group batch panicked: %v\n%s", p, debug.Stack())
		}
	}()
	res, err = g.run(ctx, items)
	if err == nil && len(res) != len(items) {
		return nil, fmt.Errorf("group batch answered %d results for %d items", len(res), len(items))
	}
	return res, err
}
