package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/group"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/domain/payment/localstate"
)

// PaymentsLocalStore keeps the local payment simulator's intents, refunds,
// transfers and webhook queue in Postgres, so several nodes and restarts
// agree on them.
//
// The simulator stands for an external provider, whose effects do not roll
// back with its client's transaction. So unlike the other repositories this
// one never joins the transaction a Transactor put in ctx: its methods run on
// their own connection, or in the transaction of its own InTx.
//
// Intents created outside the store's own transaction are group-committed:
// those asked for while one INSERT is in flight are written by the next.
type PaymentsLocalStore struct {
	db      *gorm.DB
	intents *group.Group[localIntentModel, bool]
}

var _ localstate.Store = (*PaymentsLocalStore)(nil)

// NewPaymentsLocalStore returns a PaymentsLocalStore on db.
func NewPaymentsLocalStore(db *gorm.DB) *PaymentsLocalStore {
	s := &PaymentsLocalStore{db: db}
	s.intents = group.New[localIntentModel, bool](1000, s.insertIntents)
	return s
}

// insertIntents inserts a group of intents with one statement and reports
// which ones it inserted; an idempotency key taken, or asked for twice in
// the group, leaves the intent out (its first ask only may be inserted).
func (s *PaymentsLocalStore) insertIntents(ctx context.Context, ms []localIntentModel) ([]bool, error) {
	out := make([]bool, len(ms))
	at := make(map[string]int, len(ms))
	keys := map[string]bool{}
	n := 0
	var (
		ids, secrets, currencies, descriptions, metas, statuses, fcodes, fmsgs []string
		idemKeys                                                               []*string
		amounts                                                                []int64
		created, updated                                                       []time.Time
	)
	for i, m := range ms {
		if m.IdempotencyKey != nil {
			if keys[*m.IdempotencyKey] {
				continue
			}
			keys[*m.IdempotencyKey] = true
		}
		at[m.ID] = i
		n++
		ids, secrets, idemKeys = append(ids, m.ID), append(secrets, m.ClientSecret), append(idemKeys, m.IdempotencyKey)
		amounts, currencies, descriptions = append(amounts, m.Amount), append(currencies, m.Currency), append(descriptions, m.Description)
		metas, statuses, fcodes, fmsgs = append(metas, m.Metadata), append(statuses, m.Status), append(fcodes, m.FailureCode), append(fmsgs, m.FailureMessage)
		created, updated = append(created, m.CreatedAt), append(updated, m.UpdatedAt)
	}
	rows, err := SQL(s.db).QueryContext(ctx, `INSERT INTO payments_local_intents (id, client_secret, idempotency_key, amount,
			currency, description, metadata, status, failure_code, failure_message, created_at, updated_at)
		SELECT id, client_secret, idempotency_key, amount, currency, description, metadata::jsonb, status, failure_code,
			failure_message, created_at, updated_at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[])
			AS u(id, client_secret, idempotency_key, amount, currency, description, metadata, status, failure_code,
			failure_message, created_at, updated_at)
		ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
		ids, secrets, idemKeys, amounts, currencies, descriptions, metas, statuses, fcodes, fmsgs, created, updated)
	if err != nil {
		return nil, fmt.Errorf("insert intent: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("insert intent: %w", err)
		}
		out[at[id]] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("insert intent: %w", err)
	}
	return out, nil
}

type paymentsLocalTxKey struct{}

// InTx runs fn in a transaction of the simulator's own, joined by the
// store's methods called with the context fn receives; calls nested in fn
// join it.
func (s *PaymentsLocalStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(paymentsLocalTxKey{}).(*gorm.DB); ok {
		return fn(ctx)
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(context.WithValue(ctx, paymentsLocalTxKey{}, tx))
	})
}

// conn returns the store's own transaction carried by ctx, or db bound to ctx.
func (s *PaymentsLocalStore) conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(paymentsLocalTxKey{}).(*gorm.DB); ok {
		return tx
	}
	return s.db.WithContext(ctx)
}

type localIntentModel struct {
	ID             string    `gorm:"column:id;primaryKey"`
	ClientSecret   string    `gorm:"column:client_secret"`
	IdempotencyKey *string   `gorm:"column:idempotency_key"`
	Amount         int64     `gorm:"column:amount"`
	Currency       string    `gorm:"column:currency"`
	Description    string    `gorm:"column:description"`
	Metadata       string    `gorm:"column:metadata;type:jsonb"`
	Status         string    `gorm:"column:status"`
	FailureCode    string    `gorm:"column:failure_code"`
	FailureMessage string    `gorm:"column:failure_message"`
	CreatedAt      time.Time `gorm:"column:created_at"`
	UpdatedAt      time.Time `gorm:"column:updated_at"`
}

func (localIntentModel) TableName() string { return "payments_local_intents" }

type localRefundModel struct {
	ID             string    `gorm:"column:id;primaryKey"`
	IdempotencyKey *string   `gorm:"column:idempotency_key"`
	IntentID       string    `gorm:"column:intent_id"`
	Amount         int64     `gorm:"column:amount"`
	Currency       string    `gorm:"column:currency"`
	Reason         string    `gorm:"column:reason"`
	Status         string    `gorm:"column:status"`
	Metadata       string    `gorm:"column:metadata;type:jsonb"`
	CreatedAt      time.Time `gorm:"column:created_at"`
}

func (localRefundModel) TableName() string { return "payments_local_refunds" }

type localTransferModel struct {
	ID             string    `gorm:"column:id;primaryKey"`
	IdempotencyKey *string   `gorm:"column:idempotency_key"`
	Destination    string    `gorm:"column:destination"`
	Amount         int64     `gorm:"column:amount"`
	Currency       string    `gorm:"column:currency"`
	Description    string    `gorm:"column:description"`
	Metadata       string    `gorm:"column:metadata;type:jsonb"`
	CreatedAt      time.Time `gorm:"column:created_at"`
}

func (localTransferModel) TableName() string { return "payments_local_transfers" }

type localEventModel struct {
	ID            string     `gorm:"column:id;primaryKey"`
	Type          string     `gorm:"column:type"`
	Payload       []byte     `gorm:"column:payload"`
	CreatedAt     time.Time  `gorm:"column:created_at"`
	Attempts      int        `gorm:"column:attempts"`
	NextAttemptAt time.Time  `gorm:"column:next_attempt_at"`
	DeliveredAt   *time.Time `gorm:"column:delivered_at"`
	LastError     string     `gorm:"column:last_error"`
}

func (localEventModel) TableName() string { return "payments_local_events" }

func encodeMetadata(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode metadata: %w", err)
	}
	return string(b), nil
}

func decodeMetadata(s string) map[string]string {
	m := map[string]string{}
	_ = json.Unmarshal([]byte(s), &m) // written by encodeMetadata: always a JSON object of strings
	return m
}

// onKeyConflictDoNothing makes an INSERT of a row whose idempotency key is
// taken a no-op; NULL keys never conflict.
func onKeyConflictDoNothing() clause.OnConflict {
	return clause.OnConflict{Columns: []clause.Column{{Name: "idempotency_key"}}, DoNothing: true}
}

// InsertIntent inserts it, or returns the intent holding its idempotency key.
// Concurrent inserts with one key wait for each other, so exactly one wins.
func (s *PaymentsLocalStore) InsertIntent(ctx context.Context, it localstate.IntentRecord) (localstate.IntentRecord, bool, error) {
	meta, err := encodeMetadata(it.Metadata)
	if err != nil {
		return localstate.IntentRecord{}, false, err
	}
	m := localIntentModel{
		ID: it.ID, ClientSecret: it.ClientSecret, IdempotencyKey: optString(it.IdempotencyKey),
		Amount: it.Amount, Currency: it.Currency, Description: it.Description, Metadata: meta,
		Status: it.Status, FailureCode: it.FailureCode, FailureMessage: it.FailureMessage,
		CreatedAt: it.CreatedAt.UTC(), UpdatedAt: it.UpdatedAt.UTC(),
	}
	if _, inTx := ctx.Value(paymentsLocalTxKey{}).(*gorm.DB); !inTx && it.IdempotencyKey != "" {
		inserted, err := s.intents.Do(ctx, m)
		if err != nil {
			return localstate.IntentRecord{}, false, err
		}
		if inserted { // stored as given: no need to read the metadata back
			it.CreatedAt, it.UpdatedAt = m.CreatedAt, m.UpdatedAt
			return it, true, nil
		}
	}
	res := s.conn(ctx).Clauses(onKeyConflictDoNothing()).Create(&m)
	if res.Error != nil {
		return localstate.IntentRecord{}, false, fmt.Errorf("insert intent: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return m.toRecord(), true, nil
	}
	var holder localIntentModel
	if err := s.conn(ctx).Where("idempotency_key = ?", it.IdempotencyKey).Take(&holder).Error; err != nil {
		return localstate.IntentRecord{}, false, fmt.Errorf("insert intent: read key holder: %w", err)
	}
	return holder.toRecord(), false, nil
}

func (m localIntentModel) toRecord() localstate.IntentRecord {
	return localstate.IntentRecord{
		ID: m.ID, ClientSecret: m.ClientSecret, IdempotencyKey: optStringValue(m.IdempotencyKey),
		Amount: m.Amount, Currency: m.Currency, Description: m.Description, Metadata: decodeMetadata(m.Metadata),
		Status: m.Status, FailureCode: m.FailureCode, FailureMessage: m.FailureMessage,
		CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
	}
}

// Intent returns intent id, locked FOR UPDATE when forUpdate is set, or
// payment.ErrIntentNotFound.
func (s *PaymentsLocalStore) Intent(ctx context.Context, id string, forUpdate bool) (localstate.IntentRecord, error) {
	q := s.conn(ctx)
	if forUpdate {
		q = q.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
	}
	var m localIntentModel
	if err := q.Where("id = ?", id).Take(&m).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return localstate.IntentRecord{}, payment.ErrIntentNotFound
		}
		return localstate.IntentRecord{}, fmt.Errorf("get intent: %w", err)
	}
	return m.toRecord(), nil
}

// UpdateIntent writes the status, failure and update time of it.
func (s *PaymentsLocalStore) UpdateIntent(ctx context.Context, it localstate.IntentRecord) error {
	res := s.conn(ctx).Model(&localIntentModel{}).Where("id = ?", it.ID).Updates(map[string]any{
		"status": it.Status, "failure_code": it.FailureCode, "failure_message": it.FailureMessage,
		"updated_at": it.UpdatedAt.UTC(),
	})
	if res.Error != nil {
		return fmt.Errorf("update intent: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return payment.ErrIntentNotFound
	}
	return nil
}

// InsertRefund inserts r, or returns the refund holding its idempotency key.
func (s *PaymentsLocalStore) InsertRefund(ctx context.Context, r localstate.RefundRecord) (localstate.RefundRecord, bool, error) {
	meta, err := encodeMetadata(r.Metadata)
	if err != nil {
		return localstate.RefundRecord{}, false, err
	}
	m := localRefundModel{
		ID: r.ID, IdempotencyKey: optString(r.IdempotencyKey), IntentID: r.IntentID, Amount: r.Amount,
		Currency: r.Currency, Reason: r.Reason, Status: r.Status, Metadata: meta, CreatedAt: r.CreatedAt.UTC(),
	}
	res := s.conn(ctx).Clauses(onKeyConflictDoNothing()).Create(&m)
	if res.Error != nil {
		return localstate.RefundRecord{}, false, fmt.Errorf("insert refund: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return m.toRecord(), true, nil
	}
	var holder localRefundModel
	if err := s.conn(ctx).Where("idempotency_key = ?", r.IdempotencyKey).Take(&holder).Error; err != nil {
		return localstate.RefundRecord{}, false, fmt.Errorf("insert refund: read key holder: %w", err)
	}
	return holder.toRecord(), false, nil
}

func (m localRefundModel) toRecord() localstate.RefundRecord {
	return localstate.RefundRecord{
		ID: m.ID, IdempotencyKey: optStringValue(m.IdempotencyKey), IntentID: m.IntentID, Amount: m.Amount,
		Currency: m.Currency, Reason: m.Reason, Status: m.Status, Metadata: decodeMetadata(m.Metadata),
		CreatedAt: m.CreatedAt.UTC(),
	}
}

// Refund returns the refund id; payment.ErrRefundNotFound when there is none.
func (s *PaymentsLocalStore) Refund(ctx context.Context, id string) (localstate.RefundRecord, error) {
	var m localRefundModel
	if err := s.conn(ctx).Where("id = ?", id).Take(&m).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return localstate.RefundRecord{}, payment.ErrRefundNotFound
		}
		return localstate.RefundRecord{}, fmt.Errorf("get refund: %w", err)
	}
	return m.toRecord(), nil
}

// Refunds returns the refunds of an intent, oldest first.
func (s *PaymentsLocalStore) Refunds(ctx context.Context, intentID string) ([]localstate.RefundRecord, error) {
	var ms []localRefundModel
	if err := s.conn(ctx).Where("intent_id = ?", intentID).Order("created_at, id").Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("list refunds: %w", err)
	}
	out := make([]localstate.RefundRecord, len(ms))
	for i, m := range ms {
		out[i] = m.toRecord()
	}
	return out, nil
}

// InsertTransfer inserts tr, or returns the transfer holding its idempotency
// key.
func (s *PaymentsLocalStore) InsertTransfer(ctx context.Context, tr localstate.TransferRecord) (localstate.TransferRecord, bool, error) {
	meta, err := encodeMetadata(tr.Metadata)
	if err != nil {
		return localstate.TransferRecord{}, false, err
	}
	m := localTransferModel{
		ID: tr.ID, IdempotencyKey: optString(tr.IdempotencyKey), Destination: tr.Destination, Amount: tr.Amount,
		Currency: tr.Currency, Description: tr.Description, Metadata: meta, CreatedAt: tr.CreatedAt.UTC(),
	}
	res := s.conn(ctx).Clauses(onKeyConflictDoNothing()).Create(&m)
	if res.Error != nil {
		return localstate.TransferRecord{}, false, fmt.Errorf("insert transfer: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return m.toRecord(), true, nil
	}
	var holder localTransferModel
	if err := s.conn(ctx).Where("idempotency_key = ?", tr.IdempotencyKey).Take(&holder).Error; err != nil {
		return localstate.TransferRecord{}, false, fmt.Errorf("insert transfer: read key holder: %w", err)
	}
	return holder.toRecord(), false, nil
}

func (m localTransferModel) toRecord() localstate.TransferRecord {
	return localstate.TransferRecord{
		ID: m.ID, IdempotencyKey: optStringValue(m.IdempotencyKey), Destination: m.Destination, Amount: m.Amount,
		Currency: m.Currency, Description: m.Description, Metadata: decodeMetadata(m.Metadata),
		CreatedAt: m.CreatedAt.UTC(),
	}
}

// InsertEvent queues a webhook event.
func (s *PaymentsLocalStore) InsertEvent(ctx context.Context, ev localstate.EventRecord) error {
	m := localEventModel{
		ID: ev.ID, Type: ev.Type, Payload: ev.Payload, CreatedAt: ev.CreatedAt.UTC(), Attempts: ev.Attempts,
		NextAttemptAt: ev.NextAttemptAt.UTC(), DeliveredAt: optTime(ev.DeliveredAt), LastError: ev.LastError,
	}
	if err := s.conn(ctx).Create(&m).Error; err != nil {
		return fmt.Errorf("insert webhook event: %w", err)
	}
	return nil
}

func (m localEventModel) toRecord() localstate.EventRecord {
	return localstate.EventRecord{
		ID: m.ID, Type: m.Type, Payload: m.Payload, CreatedAt: m.CreatedAt.UTC(), Attempts: m.Attempts,
		NextAttemptAt: m.NextAttemptAt.UTC(), DeliveredAt: optTimeValue(m.DeliveredAt), LastError: m.LastError,
	}
}

// ClaimEvents takes up to limit undelivered events due at now, oldest first,
// and pushes their next attempt to now+lease so no other claim takes them
// meanwhile. Rows another node is claiming are skipped, not waited for.
func (s *PaymentsLocalStore) ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]localstate.EventRecord, error) {
	var ms []localEventModel
	err := s.conn(ctx).Raw(`
UPDATE payments_local_events SET next_attempt_at = ?
WHERE id IN (
    SELECT id FROM payments_local_events
    WHERE delivered_at IS NULL AND next_attempt_at <= ?
    ORDER BY next_attempt_at, id
    LIMIT ?
    FOR UPDATE SKIP LOCKED)
RETURNING id, type, payload, created_at, attempts, next_attempt_at, delivered_at, last_error`,
		now.Add(lease).UTC(), now.UTC(), limit).Scan(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("claim webhook events: %w", err)
	}
	slices.SortFunc(ms, func(a, b localEventModel) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]localstate.EventRecord, len(ms))
	for i, m := range ms {
		out[i] = m.toRecord()
	}
	return out, nil
}

// MarkDelivered records the successful attempt of event id at t.
func (s *PaymentsLocalStore) MarkDelivered(ctx context.Context, id string, t time.Time) error {
	err := s.conn(ctx).Exec(`UPDATE payments_local_events
SET delivered_at = ?, attempts = attempts + 1, last_error = '' WHERE id = ? AND delivered_at IS NULL`, t.UTC(), id).Error
	if err != nil {
		return fmt.Errorf("mark webhook delivered: %w", err)
	}
	return nil
}

// maxLastErrorLen bounds the error text kept for a failed delivery.
const maxLastErrorLen = 1000

// MarkFailed records a failed attempt of event id and when to retry; an
// event delivered meanwhile by another claim stays delivered.
func (s *PaymentsLocalStore) MarkFailed(ctx context.Context, id string, attempts int, next time.Time, lastError string) error {
	if len(lastError) > maxLastErrorLen {
		lastError = strings.ToValidUTF8(lastError[:maxLastErrorLen], "")
	}
	err := s.conn(ctx).Exec(`UPDATE payments_local_events
SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND delivered_at IS NULL`,
		attempts, next.UTC(), lastError, id).Error
	if err != nil {
		return fmt.Errorf("mark webhook failed: %w", err)
	}
	return nil
}

// Event returns webhook event id, or errs.ErrNotFound.
func (s *PaymentsLocalStore) Event(ctx context.Context, id string) (localstate.EventRecord, error) {
	var m localEventModel
	if err := s.conn(ctx).Where("id = ?", id).Take(&m).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return localstate.EventRecord{}, errs.ErrNotFound
		}
		return localstate.EventRecord{}, fmt.Errorf("get webhook event: %w", err)
	}
	return m.toRecord(), nil
}
