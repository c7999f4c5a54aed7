package storage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

func TestTransactorCommitsAndRollsBack(t *testing.T) {
	db := storagetest.NewDB(t)
	tx := storage.NewTransactor(db)
	ctx := context.Background()
	if err := db.Exec("CREATE TABLE t (v int)").Error; err != nil {
		t.Fatal(err)
	}
	insert := func(ctx context.Context, v int) error {
		return storage.ConnForTest(ctx, db).Exec("INSERT INTO t VALUES (?)", v).Error
	}
	if err := tx.InTx(ctx, func(ctx context.Context) error { return insert(ctx, 1) }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := tx.InTx(ctx, func(ctx context.Context) error {
		if err := insert(ctx, 2); err != nil {
			return err
		}
		// A nested call joins the outer transaction and rolls back with it.
		if err := tx.InTx(ctx, func(ctx context.Context) error { return insert(ctx, 3) }); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx error = %v, want boom", err)
	}
	var vals []int
	if err := db.Raw("SELECT v FROM t ORDER BY v").Scan(&vals).Error; err != nil {
		t.Fatal(err)
	}
	if len(vals) != 1 || vals[0] != 1 {
		t.Fatalf("rows = %v, want [1]", vals)
	}
}

func TestMigrationsAreApplied(t *testing.T) {
	db := storagetest.NewDB(t)
	for _, table := range []string{"outbox", "processed_events"} {
		var n int
		if err := db.Raw("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", table).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
}
