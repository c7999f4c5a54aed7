// Package storage keeps daihuo's state in PostgreSQL through GORM: the
// repositories that implement the domain's ports, transactions, the outbox and
// the processed-event marks of consumers.
package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Open connects to the database at dsn. Driver errors such as unique
// violations are translated into gorm's sentinel errors.
func Open(ctx context.Context, dsn string) (*gorm.DB, error) {
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB.SetMaxOpenConns(40)
	sqlDB.SetMaxIdleConns(40)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return db, nil
}

// Close releases the database's connections.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// SQL returns the database/sql handle under db.
func SQL(db *gorm.DB) *sql.DB {
	sqlDB, _ := db.DB() // never fails for a *gorm.DB made by Open
	return sqlDB
}

// keyedRows reads every row of a grouped statement's answer into a map by
// the key scan returns for the row, and closes rows; what names the
// statement in errors.
func keyedRows[K comparable, V any](rows *sql.Rows, what string, scan func(*sql.Rows) (K, V, error)) (map[K]V, error) {
	defer rows.Close()
	out := map[K]V{}
	for rows.Next() {
		k, v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

type txKey struct{}

// txState is what a context carries inside a transaction: the transaction
// and what to run once it has committed.
type txState struct {
	tx          *gorm.DB
	afterCommit []func()
}

// Transactor runs functions in database transactions. Repositories called
// with the context it hands over join that transaction, which is how a state
// change and its outbox event commit together. It implements the
// domain's transaction ports.
type Transactor struct{ db *gorm.DB }

// NewTransactor returns a Transactor on db.
func NewTransactor(db *gorm.DB) *Transactor { return &Transactor{db: db} }

// InTx runs fn in a transaction, committing when fn returns nil. Nested calls
// join the outer transaction.
func (t *Transactor) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return inTx(ctx, t.db, fn)
}

// inTx runs fn in the caller's transaction (without a savepoint: the
// caller's error handling rolls it all back) or in a new one, and after a
// new one commits runs what was registered with afterCommit. Every
// transaction of this package goes through it.
func inTx(ctx context.Context, db *gorm.DB, fn func(ctx context.Context) error) error {
	if inTransaction(ctx) {
		return fn(ctx)
	}
	st := &txState{}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		st.tx = tx
		return fn(context.WithValue(ctx, txKey{}, st))
	})
	if err == nil {
		for _, f := range st.afterCommit {
			f()
		}
	}
	return err
}

// inTransaction reports whether ctx carries a transaction.
func inTransaction(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*txState)
	return ok
}

// afterCommit runs f once the transaction of ctx has committed, or at once
// when ctx carries none (the statement before it committed on its own).
func afterCommit(ctx context.Context, f func()) {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		st.afterCommit = append(st.afterCommit, f)
		return
	}
	f()
}

// rawConn returns the database/sql handle of conn(ctx, db): the
// transaction carried by ctx, or the pool. Statements sent through it skip
// gorm, so they may bind arrays ($1::text[]) for fixed-shape batch
// statements; gorm would expand a slice into a list of parameters, a new
// statement text for every batch size. gorm's error translation does not
// apply to them.
func rawConn(ctx context.Context, db *gorm.DB) gorm.ConnPool {
	return conn(ctx, db).Statement.ConnPool
}

// conn returns the transaction carried by ctx, or db bound to ctx.
func conn(ctx context.Context, db *gorm.DB) *gorm.DB {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		return st.tx
	}
	return db.WithContext(ctx)
}
