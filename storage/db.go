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

type txKey struct{}

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
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(ctx)
	}
	return t.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(context.WithValue(ctx, txKey{}, tx))
	})
}

// conn returns the transaction carried by ctx, or db bound to ctx.
func conn(ctx context.Context, db *gorm.DB) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
	}
	return db.WithContext(ctx)
}
