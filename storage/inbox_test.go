package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

func TestInboxAppliesEachEventOncePerConsumer(t *testing.T) {
	db := storagetest.NewDB(t)
	if err := db.Exec("CREATE TABLE effects (consumer text, event_id text)").Error; err != nil {
		t.Fatal(err)
	}
	inbox := storage.NewInbox(db)
	ctx := context.Background()
	boom := errors.New("boom")
	effect := func(consumer, eventID string, fail bool) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			if err := storage.ConnForTest(ctx, db).Exec("INSERT INTO effects VALUES (?, ?)", consumer, eventID).Error; err != nil {
				return err
			}
			if fail {
				return boom
			}
			return nil
		}
	}
	for _, step := range []struct {
		consumer, event string
		fail            bool
		applied         bool
		err             error
	}{
		{"settle", "evt_1", true, false, boom}, // the effect and the mark roll back
		{"settle", "evt_1", false, true, nil},
		{"settle", "evt_1", false, false, nil}, // redelivered: skipped
		{"report", "evt_1", false, true, nil},  // another consumer applies it too
		{"settle", "evt_2", false, true, nil},
	} {
		applied, err := inbox.Once(ctx, step.consumer, step.event, effect(step.consumer, step.event, step.fail))
		if applied != step.applied || !errors.Is(err, step.err) {
			t.Fatalf("Once(%s, %s) = %v, %v; want %v, %v", step.consumer, step.event, applied, err, step.applied, step.err)
		}
	}
	var rows []string
	if err := db.Raw("SELECT consumer || '/' || event_id FROM effects ORDER BY 1").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if want := []string{"report/evt_1", "settle/evt_1", "settle/evt_2"}; len(rows) != len(want) ||
		rows[0] != want[0] || rows[1] != want[1] || rows[2] != want[2] {
		t.Fatalf("effects %v, want %v", rows, want)
	}
}

func TestInboxConcurrentDeliveriesApplyOnce(t *testing.T) {
	db := storagetest.NewDB(t)
	if err := db.Exec("CREATE TABLE effects (event_id text)").Error; err != nil {
		t.Fatal(err)
	}
	inbox := storage.NewInbox(db)
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied, errs := 0, 0
	for range 8 {
		wg.Go(func() {
			ok, err := inbox.Once(context.Background(), "settle", "evt_1", func(ctx context.Context) error {
				return storage.ConnForTest(ctx, db).Exec("INSERT INTO effects VALUES ('evt_1')").Error
			})
			mu.Lock()
			defer mu.Unlock()
			if ok {
				applied++
			}
			if err != nil {
				errs++
			}
		})
	}
	wg.Wait()
	var n int
	if err := db.Raw("SELECT count(*) FROM effects").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if applied != 1 || errs != 0 || n != 1 {
		t.Fatalf("applied %d times with %d errors and %d effects; want once, no errors", applied, errs, n)
	}
}
