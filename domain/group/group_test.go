package group

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentCallsShareBatches(t *testing.T) {
	var batches, biggest atomic.Int64
	g := New(10, func(_ context.Context, items []int) ([]int, error) {
		batches.Add(1)
		if n := int64(len(items)); n > biggest.Load() {
			biggest.Store(n)
		}
		time.Sleep(2 * time.Millisecond) // a commit
		out := make([]int, len(items))
		for i, v := range items {
			out[i] = v * 2
		}
		return out, nil
	})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := g.Do(context.Background(), i)
			if err != nil || got != 2*i {
				t.Errorf("Do(%d) = %d, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	if b := batches.Load(); b >= 200 || b < 20 {
		t.Fatalf("%d batches for 200 calls with at most 10 per batch", b)
	}
	if biggest.Load() > 10 {
		t.Fatalf("a batch of %d items, above the maximum of 10", biggest.Load())
	}
}

func TestBatchErrorReachesEveryCaller(t *testing.T) {
	boom := errors.New("boom")
	g := New(5, func(context.Context, []string) ([]bool, error) { return nil, boom })
	if _, err := g.Do(context.Background(), "a"); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	// The group leads again after a failed batch.
	if _, err := g.Do(context.Background(), "b"); !errors.Is(err, boom) {
		t.Fatalf("second call err = %v, want boom", err)
	}
}

func TestCallerThatGivesUpGetsItsContextError(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	g := New(5, func(_ context.Context, items []int) ([]int, error) {
		once.Do(func() { close(started) })
		<-release
		return make([]int, len(items)), nil
	})
	go g.Do(context.Background(), 1) // leads and blocks in run
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Do(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	close(release)
}

// A batch that panics or answers the wrong number of results fails its
// callers with an error, and the group keeps serving: without that, it
// stayed busy and every later caller waited forever.
func TestBrokenBatchFailsItsCallersOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		run   func(items []int) []int
		error string
	}{
		{"panic", func([]int) []int { panic("bad batch") }, "panicked: bad batch"},
		{"too few results", func([]int) []int { return nil }, "answered 0 results for 1 items"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var broken atomic.Bool
			broken.Store(true)
			g := New(5, func(_ context.Context, items []int) ([]int, error) {
				if broken.Load() {
					return tc.run(items), nil
				}
				return items, nil
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := g.Do(ctx, 1); err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("broken batch: %v, want an error saying %q", err, tc.error)
			}
			broken.Store(false)
			if got, err := g.Do(ctx, 2); err != nil || got != 2 {
				t.Fatalf("the next call: %d, %v", got, err)
			}
		})
	}
}
