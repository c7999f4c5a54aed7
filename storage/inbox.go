package storage

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// Inbox records which events each consumer applied, so that a redelivered
// event changes nothing: the record and the consumer's effects commit in one
// transaction.
type Inbox struct {
	db *gorm.DB
	tx *Transactor
}

// NewInbox returns the inbox in db.
func NewInbox(db *gorm.DB) *Inbox { return &Inbox{db: db, tx: NewTransactor(db)} }

// Once runs fn in a transaction that also records (consumer, eventID). When
// the pair is recorded already, fn is skipped and applied is false. fn's
// context carries the transaction, so repositories called with it join it.
// A concurrent call for the same pair waits for the first one's outcome.
func (in *Inbox) Once(ctx context.Context, consumer, eventID string, fn func(ctx context.Context) error) (applied bool, err error) {
	err = in.tx.InTx(ctx, func(ctx context.Context) error {
		res := conn(ctx, in.db).Exec(`INSERT INTO processed_events (consumer, event_id)
			VALUES (?, ?) ON CONFLICT DO NOTHING`, consumer, eventID)
		if res.Error != nil {
			return fmt.Errorf("mark event processed: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		if err := fn(ctx); err != nil {
			return err
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return applied, nil
}
