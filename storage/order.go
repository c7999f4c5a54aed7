package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/group"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
)

// OrderStore keeps orders, their items and refunds, the reservations they
// hold and the webhook events already applied, in Postgres. Stock is taken
// by the Reserver; this store gives it back.
type OrderStore struct {
	db        *gorm.DB
	out       *Outbox
	checkouts *group.Group[checkoutQuery, checkoutResult]
	keyed     *group.Group[shopperKey, string]
}

// shopperKey is a shopper's Idempotency-Key, which names at most one order.
type shopperKey struct{ shopperID, key string }

var _ order.Store = (*OrderStore)(nil)

// NewOrderStore returns an OrderStore on db; out receives the flash.stock
// events of stock given back.
func NewOrderStore(db *gorm.DB, out *Outbox) *OrderStore {
	s := &OrderStore{db: db, out: out}
	s.checkouts = group.New(1000, s.loadCheckouts)
	s.keyed = group.New(1000, s.orderIDsByKey)
	return s
}

type orderModel struct {
	ID                   string     `gorm:"column:id;primaryKey"`
	ShopperID            string     `gorm:"column:shopper_id"`
	StreamID             string     `gorm:"column:stream_id"`
	PinID                *string    `gorm:"column:pin_id"`
	CreatorID            string     `gorm:"column:creator_id"`
	AgencyID             *string    `gorm:"column:agency_id"`
	Status               string     `gorm:"column:status"`
	Currency             string     `gorm:"column:currency"`
	TotalAmount          int64      `gorm:"column:total_amount"`
	PaidAmount           int64      `gorm:"column:paid_amount"`
	RefundedAmount       int64      `gorm:"column:refunded_amount"`
	ShipName             string     `gorm:"column:ship_name"`
	ShipLine1            string     `gorm:"column:ship_line1"`
	ShipCity             string     `gorm:"column:ship_city"`
	ShipPostalCode       string     `gorm:"column:ship_postal_code"`
	ShipCountry          string     `gorm:"column:ship_country"`
	PaymentProvider      string     `gorm:"column:payment_provider"`
	PaymentIntentID      string     `gorm:"column:payment_intent_id"`
	PaymentClientSecret  string     `gorm:"column:payment_client_secret"`
	PaymentFailureCode   string     `gorm:"column:payment_failure_code"`
	PaymentFailureReason string     `gorm:"column:payment_failure_reason"`
	CloseReason          string     `gorm:"column:close_reason"`
	IdempotencyKey       *string    `gorm:"column:idempotency_key"`
	ExpiresAt            time.Time  `gorm:"column:expires_at"`
	CreatedAt            time.Time  `gorm:"column:created_at"`
	UpdatedAt            time.Time  `gorm:"column:updated_at"`
	PaidAt               *time.Time `gorm:"column:paid_at"`
	ClosedAt             *time.Time `gorm:"column:closed_at"`
}

func (orderModel) TableName() string { return "orders" }

type orderItemModel struct {
	OrderID       string `gorm:"column:order_id;primaryKey"`
	Position      int    `gorm:"column:position;primaryKey"`
	VariantID     string `gorm:"column:variant_id"`
	ProductID     string `gorm:"column:product_id"`
	BrandID       string `gorm:"column:brand_id"`
	Quantity      int64  `gorm:"column:quantity"`
	UnitAmount    int64  `gorm:"column:unit_amount"`
	CommissionBPS int    `gorm:"column:commission_bps"`
	Flash         bool   `gorm:"column:flash"`
}

func (orderItemModel) TableName() string { return "order_items" }

type refundModel struct {
	ID               string    `gorm:"column:id;primaryKey"`
	OrderID          string    `gorm:"column:order_id"`
	RequestedBy      string    `gorm:"column:requested_by"`
	IdempotencyKey   string    `gorm:"column:idempotency_key"`
	Amount           int64     `gorm:"column:amount"`
	Currency         string    `gorm:"column:currency"`
	Reason           string    `gorm:"column:reason"`
	Status           string    `gorm:"column:status"`
	ProviderRefundID string    `gorm:"column:provider_refund_id"`
	FailureReason    string    `gorm:"column:failure_reason"`
	CreatedAt        time.Time `gorm:"column:created_at"`
	UpdatedAt        time.Time `gorm:"column:updated_at"`
}

func (refundModel) TableName() string { return "order_refunds" }

type refundLineModel struct {
	RefundID string `gorm:"column:refund_id;primaryKey"`
	BrandID  string `gorm:"column:brand_id;primaryKey"`
	Amount   int64  `gorm:"column:amount"`
}

func (refundLineModel) TableName() string { return "order_refund_lines" }

func orderFromDomain(o order.Order) (orderModel, []orderItemModel) {
	m := orderModel{
		ID: o.ID, ShopperID: o.ShopperID, StreamID: o.StreamID, PinID: optString(o.PinID), CreatorID: o.CreatorID,
		AgencyID: optString(o.AgencyID), Status: string(o.Status), Currency: o.Total.Currency,
		TotalAmount: o.Total.Amount, PaidAmount: o.Paid.Amount, RefundedAmount: o.Refunded.Amount,
		ShipName: o.Shipping.Name, ShipLine1: o.Shipping.Line1, ShipCity: o.Shipping.City,
		ShipPostalCode: o.Shipping.PostalCode, ShipCountry: o.Shipping.Country,
		PaymentProvider: o.Payment.Provider, PaymentIntentID: o.Payment.IntentID, PaymentClientSecret: o.Payment.ClientSecret,
		PaymentFailureCode: o.Payment.FailureCode, PaymentFailureReason: o.Payment.FailureReason, CloseReason: o.CloseReason,
		IdempotencyKey: optString(o.IdempotencyKey), ExpiresAt: o.ExpiresAt.UTC(), CreatedAt: o.CreatedAt.UTC(),
		UpdatedAt: o.UpdatedAt.UTC(), PaidAt: utcPtr(o.PaidAt), ClosedAt: utcPtr(o.ClosedAt),
	}
	items := make([]orderItemModel, len(o.Items))
	for i, it := range o.Items {
		items[i] = orderItemModel{OrderID: o.ID, Position: i, VariantID: it.VariantID, ProductID: it.ProductID,
			BrandID: it.BrandID, Quantity: it.Quantity, UnitAmount: it.UnitPrice.Amount, CommissionBPS: it.CommissionBPS, Flash: it.Flash}
	}
	return m, items
}

func (m orderModel) toDomain(items []orderItemModel, refunds []order.Refund) order.Order {
	cur := m.Currency
	o := order.Order{
		ID: m.ID, ShopperID: m.ShopperID, StreamID: m.StreamID, PinID: optStringValue(m.PinID), CreatorID: m.CreatorID,
		AgencyID: optStringValue(m.AgencyID), Status: order.Status(m.Status), Items: make([]order.Item, len(items)),
		Total:    money.Money{Amount: m.TotalAmount, Currency: cur},
		Paid:     money.Money{Amount: m.PaidAmount, Currency: cur},
		Refunded: money.Money{Amount: m.RefundedAmount, Currency: cur},
		Refunds:  refunds,
		Shipping: order.Shipping{Name: m.ShipName, Line1: m.ShipLine1, City: m.ShipCity, PostalCode: m.ShipPostalCode, Country: m.ShipCountry},
		Payment: order.Payment{Provider: m.PaymentProvider, IntentID: m.PaymentIntentID, ClientSecret: m.PaymentClientSecret,
			FailureCode: m.PaymentFailureCode, FailureReason: m.PaymentFailureReason},
		CloseReason: m.CloseReason, IdempotencyKey: optStringValue(m.IdempotencyKey),
		ExpiresAt: m.ExpiresAt.UTC(), CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
		PaidAt: utcPtr(m.PaidAt), ClosedAt: utcPtr(m.ClosedAt),
	}
	for i, it := range items {
		o.Items[i] = order.Item{VariantID: it.VariantID, ProductID: it.ProductID, BrandID: it.BrandID, Quantity: it.Quantity,
			UnitPrice: money.Money{Amount: it.UnitAmount, Currency: cur}, CommissionBPS: it.CommissionBPS, Flash: it.Flash}
	}
	return o
}

func (m refundModel) toDomain(lines []refundLineModel) order.Refund {
	r := order.Refund{
		ID: m.ID, OrderID: m.OrderID, RequestedBy: m.RequestedBy, IdempotencyKey: m.IdempotencyKey,
		Amount: money.Money{Amount: m.Amount, Currency: m.Currency}, Reason: m.Reason, Status: order.RefundStatus(m.Status),
		ProviderRefundID: m.ProviderRefundID, FailureReason: m.FailureReason, CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
	}
	for _, l := range lines {
		r.Lines = append(r.Lines, order.RefundLine{BrandID: l.BrandID, Amount: l.Amount})
	}
	return r
}

// checkoutRow is a stream and, when asked and found, one of its pins.
type checkoutRow struct {
	Stream streamModel `gorm:"embedded"`
	Pin    pinModel    `gorm:"embedded;embeddedPrefix:pin_"`
}

// checkoutVariant is a variant and its line-up entry in the stream, if any.
type checkoutVariant struct {
	Variant       variantModel `gorm:"embedded"`
	LineupBrandID *string      `gorm:"column:lineup_brand_id"`
	CommissionBPS *int         `gorm:"column:commission_bps"`
	AddedAt       *time.Time   `gorm:"column:added_at"`
}

// LoadCheckout reads the stream with the pin (one query) and the variants
// with their line-up entries (another); errs.ErrNotFound when the stream
// does not exist.
func (s *OrderStore) LoadCheckout(ctx context.Context, streamID, pinID string, variantIDs []string) (order.Checkout, error) {
	if !inTransaction(ctx) {
		r, err := s.checkouts.Do(ctx, checkoutQuery{streamID: streamID, pinID: pinID, variantIDs: variantIDs})
		if err != nil {
			return order.Checkout{}, err
		}
		return r.co, r.err
	}
	db := conn(ctx, s.db)
	var rows []checkoutRow
	err := db.Raw(`SELECT s.id, s.creator_id, s.agency_id, s.title, s.currency, s.status, s.playback_url,
			s.scheduled_at, s.started_at, s.ended_at, s.created_at,
			p.id AS pin_id, p.stream_id AS pin_stream_id, p.product_id AS pin_product_id, p.brand_id AS pin_brand_id,
			p.flash_price_amount AS pin_flash_price_amount, p.flash_price_currency AS pin_flash_price_currency,
			p.flash_quantity AS pin_flash_quantity, p.flash_remaining AS pin_flash_remaining,
			p.flash_per_buyer_limit AS pin_flash_per_buyer_limit, p.flash_ends_at AS pin_flash_ends_at,
			p.pinned_at AS pin_pinned_at, p.offset_ms AS pin_offset_ms, p.unpinned_at AS pin_unpinned_at,
			p.unpin_offset_ms AS pin_unpin_offset_ms
		FROM streams s LEFT JOIN pins p ON p.id = ? AND p.stream_id = s.id
		WHERE s.id = ?`, pinID, streamID).Scan(&rows).Error
	if err != nil {
		return order.Checkout{}, fmt.Errorf("load stream: %w", err)
	}
	if len(rows) == 0 {
		return order.Checkout{}, errs.ErrNotFound
	}
	co := order.Checkout{Stream: rows[0].Stream.toDomain(), Variants: map[string]catalog.Variant{}, Lineup: map[string]live.LineupItem{}}
	if rows[0].Pin.ID != "" {
		pin := rows[0].Pin.toDomain()
		co.Pin = &pin
	}
	if len(variantIDs) == 0 {
		return co, nil
	}
	var vs []checkoutVariant
	err = db.Raw(`SELECT v.id, v.product_id, v.brand_id, v.position, v.sku, v.title, v.price_amount, v.price_currency,
			v.stock_available, v.created_at, l.brand_id AS lineup_brand_id, l.commission_bps, l.added_at
		FROM variants v LEFT JOIN lineup_items l ON l.stream_id = ? AND l.product_id = v.product_id AND l.removed_at IS NULL
		WHERE v.id IN ?`, streamID, variantIDs).Scan(&vs).Error
	if err != nil {
		return order.Checkout{}, fmt.Errorf("load variants: %w", err)
	}
	for _, v := range vs {
		co.Variants[v.Variant.ID] = v.Variant.toDomain()
		if v.CommissionBPS != nil {
			co.Lineup[v.Variant.ProductID] = live.LineupItem{StreamID: streamID, ProductID: v.Variant.ProductID,
				BrandID: optStringValue(v.LineupBrandID), CommissionBPS: *v.CommissionBPS, AddedAt: optTimeValue(v.AddedAt)}
		}
	}
	return co, nil
}

// checkoutQuery is one LoadCheckout waiting for its group.
type checkoutQuery struct {
	streamID, pinID string
	variantIDs      []string
}

// key identifies the queries one read can answer.
func (q checkoutQuery) key() string {
	return q.streamID + "\x00" + q.pinID + "\x00" + strings.Join(q.variantIDs, "\x00")
}

type checkoutResult struct {
	co  order.Checkout
	err error
}

// loadCheckouts answers a group of LoadCheckout calls made outside
// transactions with one read per distinct question: the buyers of a flash
// sale, who all ask about the same stream, pin and variant, share a read
// instead of each making one. Every read starts after the calls it answers
// arrived, so none sees older data than a read of its own would have. The
// callers share the Checkout's maps; order.Service only reads them.
func (s *OrderStore) loadCheckouts(ctx context.Context, qs []checkoutQuery) ([]checkoutResult, error) {
	out := make([]checkoutResult, len(qs))
	done := make(map[string]checkoutResult, 1)
	for i, q := range qs {
		k := q.key()
		r, ok := done[k]
		if !ok {
			r.co, r.err = s.loadCheckoutFast(ctx, q.streamID, q.pinID, q.variantIDs)
			done[k] = r
		}
		out[i] = r
	}
	return out, nil
}

// loadCheckoutFast is LoadCheckout in one query (the stream, joined with
// the pin, the variants and their line-up entries: one row per variant
// found, or one row without), scanned without reflection: it is on the
// path of every order.
func (s *OrderStore) loadCheckoutFast(ctx context.Context, streamID, pinID string, variantIDs []string) (order.Checkout, error) {
	if variantIDs == nil {
		variantIDs = []string{}
	}
	rows, err := SQL(s.db).QueryContext(ctx, `SELECT s.id, s.creator_id, s.agency_id, s.title, s.currency, s.status,
			s.playback_url, s.scheduled_at, s.started_at, s.ended_at, s.created_at,
			p.id, p.stream_id, p.product_id, p.brand_id, p.flash_price_amount, p.flash_price_currency, p.flash_quantity,
			p.flash_remaining, p.flash_per_buyer_limit, p.flash_ends_at, p.pinned_at, p.offset_ms, p.unpinned_at,
			p.unpin_offset_ms,
			v.id, v.product_id, v.brand_id, v.position, v.sku, v.title, v.price_amount, v.price_currency,
			v.stock_available, v.created_at,
			l.brand_id, l.commission_bps, l.added_at
		FROM streams s
		LEFT JOIN pins p ON p.id = $2 AND p.stream_id = s.id
		LEFT JOIN variants v ON v.id = ANY($3::text[])
		LEFT JOIN lineup_items l ON l.stream_id = s.id AND l.product_id = v.product_id AND l.removed_at IS NULL
		WHERE s.id = $1`, streamID, pinID, variantIDs)
	if err != nil {
		return order.Checkout{}, fmt.Errorf("load checkout: %w", err)
	}
	defer rows.Close()
	var co order.Checkout
	found := false
	for rows.Next() {
		var (
			st                                        streamModel
			pm                                        pinModel
			pID, pStream, pProduct, pBrand            *string
			pPinnedAt                                 *time.Time
			pOffset                                   *int64
			vID, vProduct, vBrand, vSKU, vTitle, vCur *string
			vPos                                      *int
			vAmount, vStock                           *int64
			vCreated                                  *time.Time
			lBrand                                    *string
			lBPS                                      *int
			lAdded                                    *time.Time
		)
		if err := rows.Scan(&st.ID, &st.CreatorID, &st.AgencyID, &st.Title, &st.Currency, &st.Status,
			&st.PlaybackURL, &st.ScheduledAt, &st.StartedAt, &st.EndedAt, &st.CreatedAt,
			&pID, &pStream, &pProduct, &pBrand, &pm.FlashPriceAmount, &pm.FlashPriceCurrency, &pm.FlashQuantity,
			&pm.FlashRemaining, &pm.FlashPerBuyerLimit, &pm.FlashEndsAt, &pPinnedAt, &pOffset, &pm.UnpinnedAt,
			&pm.UnpinOffsetMS,
			&vID, &vProduct, &vBrand, &vPos, &vSKU, &vTitle, &vAmount, &vCur, &vStock, &vCreated,
			&lBrand, &lBPS, &lAdded); err != nil {
			return order.Checkout{}, fmt.Errorf("load checkout: %w", err)
		}
		if !found {
			found = true
			co = order.Checkout{Stream: st.toDomain(), Variants: map[string]catalog.Variant{}, Lineup: map[string]live.LineupItem{}}
			if pID != nil {
				pm.ID, pm.StreamID, pm.ProductID, pm.BrandID = *pID, *pStream, *pProduct, *pBrand
				pm.PinnedAt, pm.OffsetMS = optTimeValue(pPinnedAt), *pOffset
				pin := pm.toDomain()
				co.Pin = &pin
			}
		}
		if vID == nil {
			continue
		}
		vm := variantModel{ID: *vID, ProductID: *vProduct, BrandID: *vBrand, Position: *vPos, SKU: *vSKU, Title: *vTitle,
			PriceAmount: *vAmount, PriceCurrency: *vCur, StockAvailable: *vStock, CreatedAt: optTimeValue(vCreated)}
		co.Variants[vm.ID] = vm.toDomain()
		if lBPS != nil {
			co.Lineup[vm.ProductID] = live.LineupItem{StreamID: streamID, ProductID: vm.ProductID,
				BrandID: optStringValue(lBrand), CommissionBPS: *lBPS, AddedAt: optTimeValue(lAdded)}
		}
	}
	if err := rows.Err(); err != nil {
		return order.Checkout{}, fmt.Errorf("load checkout: %w", err)
	}
	if !found {
		return order.Checkout{}, errs.ErrNotFound
	}
	return co, nil
}

// loadOrders completes order rows with their items and refunds, in the
// rows' order, with one query per table (refund lines only when there are
// refunds).
func (s *OrderStore) loadOrders(db *gorm.DB, ms []orderModel) ([]order.Order, error) {
	if len(ms) == 0 {
		return []order.Order{}, nil
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	var items []orderItemModel
	if err := db.Where("order_id IN ?", ids).Order("order_id, position").Find(&items).Error; err != nil {
		return nil, fmt.Errorf("load order items: %w", err)
	}
	byOrder := make(map[string][]orderItemModel, len(ms))
	for _, it := range items {
		byOrder[it.OrderID] = append(byOrder[it.OrderID], it)
	}
	var rms []refundModel
	if err := db.Where("order_id IN ?", ids).Order("created_at, id").Find(&rms).Error; err != nil {
		return nil, fmt.Errorf("load refunds: %w", err)
	}
	refunds, err := s.completeRefunds(db, rms)
	if err != nil {
		return nil, err
	}
	refundsByOrder := map[string][]order.Refund{}
	for _, r := range refunds {
		refundsByOrder[r.OrderID] = append(refundsByOrder[r.OrderID], r)
	}
	out := make([]order.Order, len(ms))
	for i, m := range ms {
		out[i] = m.toDomain(byOrder[m.ID], refundsByOrder[m.ID])
	}
	return out, nil
}

// completeRefunds reads the lines of refund rows.
func (s *OrderStore) completeRefunds(db *gorm.DB, rms []refundModel) ([]order.Refund, error) {
	if len(rms) == 0 {
		return nil, nil
	}
	ids := make([]string, len(rms))
	for i, r := range rms {
		ids[i] = r.ID
	}
	var lines []refundLineModel
	if err := db.Where("refund_id IN ?", ids).Order("refund_id, brand_id").Find(&lines).Error; err != nil {
		return nil, fmt.Errorf("load refund lines: %w", err)
	}
	byRefund := map[string][]refundLineModel{}
	for _, l := range lines {
		byRefund[l.RefundID] = append(byRefund[l.RefundID], l)
	}
	out := make([]order.Refund, len(rms))
	for i, r := range rms {
		out[i] = r.toDomain(byRefund[r.ID])
	}
	return out, nil
}

// one reads the single order q selects, or errs.ErrNotFound.
func (s *OrderStore) one(db, q *gorm.DB, what string) (order.Order, error) {
	var ms []orderModel
	if err := q.Limit(1).Find(&ms).Error; err != nil {
		return order.Order{}, fmt.Errorf("%s: %w", what, err)
	}
	if len(ms) == 0 {
		return order.Order{}, errs.ErrNotFound
	}
	os, err := s.loadOrders(db, ms)
	if err != nil {
		return order.Order{}, err
	}
	return os[0], nil
}

// FindByIdempotencyKey returns the shopper's order placed with key.
func (s *OrderStore) FindByIdempotencyKey(ctx context.Context, shopperID, key string) (order.Order, error) {
	db := conn(ctx, s.db)
	if inTransaction(ctx) {
		return s.one(db, db.Where("shopper_id = ? AND idempotency_key = ?", shopperID, key), "find order by key")
	}
	// Asked for every order refused (a crowd after the last unit of a flash
	// sale), and almost always in vain: grouped, one read for many.
	id, err := s.keyed.Do(ctx, shopperKey{shopperID, key})
	if err != nil {
		return order.Order{}, err
	}
	if id == "" {
		return order.Order{}, errs.ErrNotFound
	}
	return s.GetOrder(ctx, id)
}

// orderIDsByKey answers a group of FindByIdempotencyKey with one read: the
// id of each key's order, "" when there is none.
func (s *OrderStore) orderIDsByKey(ctx context.Context, ks []shopperKey) ([]string, error) {
	shoppers, keys := make([]string, len(ks)), make([]string, len(ks))
	for i, k := range ks {
		shoppers[i], keys[i] = k.shopperID, k.key
	}
	rows, err := SQL(s.db).QueryContext(ctx, `SELECT o.shopper_id, o.idempotency_key, o.id
		FROM unnest($1::text[], $2::text[]) AS u(shopper_id, key)
		JOIN orders o ON o.shopper_id = u.shopper_id AND o.idempotency_key = u.key`, shoppers, keys)
	if err != nil {
		return nil, fmt.Errorf("find orders by key: %w", err)
	}
	ids, err := keyedRows(rows, "find orders by key", func(r *sql.Rows) (k shopperKey, id string, err error) {
		err = r.Scan(&k.shopperID, &k.key, &id)
		return k, id, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = ids[k]
	}
	return out, nil
}

// InsertOrder inserts the order and its items; a taken idempotency key
// answers order.ErrDuplicateOrder.
func (s *OrderStore) InsertOrder(ctx context.Context, o order.Order) error {
	return s.InsertOrders(ctx, []order.Order{o})
}

// InsertOrders inserts orders and their items with one statement per table;
// a taken idempotency key fails them all with order.ErrDuplicateOrder.
func (s *OrderStore) InsertOrders(ctx context.Context, os []order.Order) error {
	if len(os) == 0 {
		return nil
	}
	// Column arrays and unnest: one statement of fixed shape, prepared once,
	// however many orders (a multi-row VALUES is a new statement to parse
	// and plan for every batch size, with 28 parameters per order).
	var oc orderColumns
	var ic itemColumns
	for _, o := range os {
		m, its := orderFromDomain(o)
		oc.add(m)
		for _, it := range its {
			ic.add(it)
		}
	}
	err := s.inTx(ctx, func(ctx context.Context) error {
		tx := rawConn(ctx, s.db)
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, shopper_id, stream_id, pin_id, creator_id, agency_id,
				status, currency, total_amount, paid_amount, refunded_amount, ship_name, ship_line1, ship_city,
				ship_postal_code, ship_country, payment_provider, payment_intent_id, payment_client_secret,
				payment_failure_code, payment_failure_reason, close_reason, idempotency_key, expires_at, created_at,
				updated_at, paid_at, closed_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
				$8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[],
				$16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[],
				$24::timestamptz[], $25::timestamptz[], $26::timestamptz[], $27::timestamptz[], $28::timestamptz[])`,
			oc.id, oc.shopper, oc.stream, oc.pin, oc.creator, oc.agency, oc.status, oc.currency, oc.total, oc.paid,
			oc.refunded, oc.shipName, oc.shipLine1, oc.shipCity, oc.shipPostal, oc.shipCountry, oc.provider, oc.intent,
			oc.secret, oc.failCode, oc.failReason, oc.closeReason, oc.key, oc.expires, oc.created, oc.updated,
			oc.paidAt, oc.closedAt); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO order_items (order_id, position, variant_id, product_id, brand_id,
				quantity, unit_amount, commission_bps, flash)
			SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
				$8::int[], $9::bool[])`,
			ic.order, ic.position, ic.variant, ic.product, ic.brand, ic.quantity, ic.unit, ic.bps, ic.flash)
		return err
	})
	var pg *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pg) && pg.Code == pgUniqueViolation && pg.ConstraintName == "orders_idempotency_key":
		return order.ErrDuplicateOrder
	}
	return fmt.Errorf("insert orders: %w", err)
}

// orderColumns holds orders column by column, for unnest.
type orderColumns struct {
	id, shopper, stream, creator, status, currency              []string
	pin, agency, key                                            []*string
	total, paid, refunded                                       []int64
	shipName, shipLine1, shipCity, shipPostal, shipCountry      []string
	provider, intent, secret, failCode, failReason, closeReason []string
	expires, created, updated                                   []time.Time
	paidAt, closedAt                                            []*time.Time
}

func (c *orderColumns) add(m orderModel) {
	c.id, c.shopper, c.stream = append(c.id, m.ID), append(c.shopper, m.ShopperID), append(c.stream, m.StreamID)
	c.pin, c.creator, c.agency = append(c.pin, m.PinID), append(c.creator, m.CreatorID), append(c.agency, m.AgencyID)
	c.status, c.currency = append(c.status, m.Status), append(c.currency, m.Currency)
	c.total, c.paid, c.refunded = append(c.total, m.TotalAmount), append(c.paid, m.PaidAmount), append(c.refunded, m.RefundedAmount)
	c.shipName, c.shipLine1, c.shipCity = append(c.shipName, m.ShipName), append(c.shipLine1, m.ShipLine1), append(c.shipCity, m.ShipCity)
	c.shipPostal, c.shipCountry = append(c.shipPostal, m.ShipPostalCode), append(c.shipCountry, m.ShipCountry)
	c.provider, c.intent, c.secret = append(c.provider, m.PaymentProvider), append(c.intent, m.PaymentIntentID), append(c.secret, m.PaymentClientSecret)
	c.failCode, c.failReason = append(c.failCode, m.PaymentFailureCode), append(c.failReason, m.PaymentFailureReason)
	c.closeReason, c.key = append(c.closeReason, m.CloseReason), append(c.key, m.IdempotencyKey)
	c.expires, c.created, c.updated = append(c.expires, m.ExpiresAt), append(c.created, m.CreatedAt), append(c.updated, m.UpdatedAt)
	c.paidAt, c.closedAt = append(c.paidAt, m.PaidAt), append(c.closedAt, m.ClosedAt)
}

// itemColumns holds order items column by column, for unnest.
type itemColumns struct {
	order, variant, product, brand []string
	position, bps                  []int32
	quantity, unit                 []int64
	flash                          []bool
}

func (c *itemColumns) add(m orderItemModel) {
	c.order, c.position, c.variant = append(c.order, m.OrderID), append(c.position, int32(m.Position)), append(c.variant, m.VariantID)
	c.product, c.brand, c.quantity = append(c.product, m.ProductID), append(c.brand, m.BrandID), append(c.quantity, m.Quantity)
	c.unit, c.bps, c.flash = append(c.unit, m.UnitAmount), append(c.bps, int32(m.CommissionBPS)), append(c.flash, m.Flash)
}

// pgUniqueViolation is Postgres's SQLSTATE for a duplicate key, which gorm
// translates for its own statements but not for those run on its
// connection directly.
const pgUniqueViolation = "23505"

// GetOrder returns the order with id.
func (s *OrderStore) GetOrder(ctx context.Context, id string) (order.Order, error) {
	db := conn(ctx, s.db)
	return s.one(db, db.Where("id = ?", id), "get order")
}

// LockOrder returns the order with id, locked FOR NO KEY UPDATE.
func (s *OrderStore) LockOrder(ctx context.Context, id string) (order.Order, error) {
	db := conn(ctx, s.db)
	return s.one(db, db.Clauses(clause.Locking{Strength: "NO KEY UPDATE"}).Where("id = ?", id), "lock order")
}

// LockOrderByIntent returns the order paid through the intent, locked.
func (s *OrderStore) LockOrderByIntent(ctx context.Context, provider, intentID string) (order.Order, error) {
	db := conn(ctx, s.db)
	return s.one(db, db.Clauses(clause.Locking{Strength: "NO KEY UPDATE"}).
		Where("payment_provider = ? AND payment_intent_id = ?", provider, intentID), "lock order by intent")
}

// LockDueOrders locks pending orders due at now, skipping locked ones.
func (s *OrderStore) LockDueOrders(ctx context.Context, now time.Time, limit int) ([]order.Order, error) {
	db := conn(ctx, s.db)
	var ms []orderModel
	err := db.Clauses(clause.Locking{Strength: "NO KEY UPDATE", Options: "SKIP LOCKED"}).
		Where("status = 'pending_payment' AND expires_at <= ?", now.UTC()).Order("expires_at").Limit(limit).Find(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("lock due orders: %w", err)
	}
	return s.loadOrders(db, ms)
}

// UpdateOrder writes the mutable fields of o.
func (s *OrderStore) UpdateOrder(ctx context.Context, o order.Order) error {
	res := conn(ctx, s.db).Model(&orderModel{}).Where("id = ?", o.ID).Updates(map[string]any{
		"status": string(o.Status), "paid_amount": o.Paid.Amount, "refunded_amount": o.Refunded.Amount,
		"payment_failure_code": o.Payment.FailureCode, "payment_failure_reason": o.Payment.FailureReason,
		"close_reason": o.CloseReason, "updated_at": o.UpdatedAt.UTC(), "paid_at": utcPtr(o.PaidAt), "closed_at": utcPtr(o.ClosedAt),
	})
	if res.Error != nil {
		return fmt.Errorf("update order: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return errs.ErrNotFound
	}
	return nil
}

// ListOrders returns orders matching f, newest first. A brand's list walks
// the brand's item index, so it costs the same however many orders others have.
func (s *OrderStore) ListOrders(ctx context.Context, f order.ListFilter, before string, limit int) ([]order.Order, error) {
	db := conn(ctx, s.db)
	q := db.Model(&orderModel{})
	switch {
	case f.BrandID != "":
		// The brand's orders come from its items' index, narrowed by the
		// orders' own columns.
		sub := db.Table("order_items i").Select("DISTINCT i.order_id").Joins("JOIN orders o ON o.id = i.order_id").
			Where("i.brand_id = ?", f.BrandID)
		sub = narrowOrders(sub, "o.", f.Query)
		if before != "" {
			sub = sub.Where("i.order_id < ?", before)
		}
		q = q.Where("id IN (?)", sub.Order("i.order_id DESC").Limit(limit))
	case f.ShopperID != "":
		q = q.Where("shopper_id = ?", f.ShopperID)
	}
	q = narrowOrders(q, "", f.Query)
	if before != "" {
		q = q.Where("id < ?", before)
	}
	var ms []orderModel
	if err := q.Order("id DESC").Limit(limit).Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return s.loadOrders(db, ms)
}

// narrowOrders adds the conditions of oq on the orders' columns, named with
// prefix. The time bounds also bound the id, which holds the same
// millisecond, so the indexes on ids serve them.
func narrowOrders(q *gorm.DB, prefix string, oq order.Query) *gorm.DB {
	if oq.Status != "" {
		q = q.Where(prefix+"status = ?", string(oq.Status))
	}
	if oq.StreamID != "" {
		q = q.Where(prefix+"stream_id = ?", oq.StreamID)
	}
	if !oq.From.IsZero() {
		q = q.Where(prefix+"id >= ? AND "+prefix+"created_at >= ?", id.Floor(order.PrefixOrder, oq.From), oq.From.UTC())
	}
	if !oq.To.IsZero() {
		q = q.Where(prefix+"id < ? AND "+prefix+"created_at < ?", id.Floor(order.PrefixOrder, oq.To.Add(time.Millisecond)), oq.To.UTC())
	}
	return q
}

// AttachReservations marks the order's held reservations ordered.
func (s *OrderStore) AttachReservations(ctx context.Context, orderID string) (int, error) {
	res := conn(ctx, s.db).Exec(`UPDATE stock_reservations SET status = 'ordered' WHERE order_id = ? AND status = 'held'`, orderID)
	if res.Error != nil {
		return 0, fmt.Errorf("attach reservations: %w", res.Error)
	}
	return int(res.RowsAffected), nil
}

// AttachReservationsOf marks the held reservations of the orders ordered
// and returns how many each order had, with one statement.
func (s *OrderStore) AttachReservationsOf(ctx context.Context, orderIDs []string) (map[string]int, error) {
	n := make(map[string]int, len(orderIDs))
	if len(orderIDs) == 0 {
		return n, nil
	}
	rows, err := rawConn(ctx, s.db).QueryContext(ctx, `UPDATE stock_reservations SET status = 'ordered'
		WHERE order_id = ANY($1::text[]) AND status = 'held' RETURNING order_id`, orderIDs)
	if err != nil {
		return nil, fmt.Errorf("attach reservations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("attach reservations: %w", err)
		}
		n[id]++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attach reservations: %w", err)
	}
	return n, nil
}

// CommitReservations makes the order's reservations final.
func (s *OrderStore) CommitReservations(ctx context.Context, orderID string) error {
	err := conn(ctx, s.db).Exec(`UPDATE stock_reservations SET status = 'committed'
		WHERE order_id = ? AND status IN ('held', 'ordered')`, orderID).Error
	if err != nil {
		return fmt.Errorf("commit reservations: %w", err)
	}
	return nil
}

// ReleaseReservations gives back the stock the orders hold.
func (s *OrderStore) ReleaseReservations(ctx context.Context, orderIDs ...string) error {
	if len(orderIDs) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		return releaseReservations(ctx, s.db, s.out, "order_id IN ?", orderIDs)
	})
}

// ReleaseHeldReservations gives back the stock of the order's reservations
// still held: once attached ('ordered'), they belong to a recorded order and
// only its cancel or expiry gives them back.
func (s *OrderStore) ReleaseHeldReservations(ctx context.Context, orderID string) error {
	return s.inTx(ctx, func(ctx context.Context) error {
		return releaseReservations(ctx, s.db, s.out, "order_id = ? AND status = 'held'", orderID)
	})
}

// ReleaseOrphanReservations gives back held reservations that expired
// before expiredBefore and were never attached to an order. It takes them
// FOR UPDATE SKIP LOCKED, and the lock re-checks 'held', so a reservation
// its order is attaching at that moment is never released.
func (s *OrderStore) ReleaseOrphanReservations(ctx context.Context, expiredBefore time.Time, limit int) (int, error) {
	var n int
	err := s.inTx(ctx, func(ctx context.Context) error {
		var ids []string
		err := conn(ctx, s.db).Raw(`SELECT id FROM stock_reservations WHERE status = 'held' AND expires_at < ?
			ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED`, expiredBefore.UTC(), limit).Scan(&ids).Error
		if err != nil || len(ids) == 0 {
			return err
		}
		n = len(ids)
		return releaseReservations(ctx, s.db, s.out, "id IN ?", ids)
	})
	if err != nil {
		return 0, fmt.Errorf("release orphan reservations: %w", err)
	}
	return n, nil
}

// inTx runs fn in the caller's transaction (without a savepoint: the
// caller's error handling rolls it all back) or a new one.
func (s *OrderStore) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return inTx(ctx, s.db, fn)
}

// MarkPaymentEvent records a webhook event id; false when seen before.
func (s *OrderStore) MarkPaymentEvent(ctx context.Context, provider, eventID string) (bool, error) {
	res := conn(ctx, s.db).Exec(`INSERT INTO order_payment_events (provider, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		provider, eventID)
	if res.Error != nil {
		return false, fmt.Errorf("mark payment event: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// InsertRefund inserts a refund with its lines.
func (s *OrderStore) InsertRefund(ctx context.Context, r order.Refund) error {
	m := refundModel{
		ID: r.ID, OrderID: r.OrderID, RequestedBy: r.RequestedBy, IdempotencyKey: r.IdempotencyKey, Amount: r.Amount.Amount,
		Currency: r.Amount.Currency, Reason: r.Reason, Status: string(r.Status), ProviderRefundID: r.ProviderRefundID,
		FailureReason: r.FailureReason, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	lines := make([]refundLineModel, len(r.Lines))
	for i, l := range r.Lines {
		lines[i] = refundLineModel{RefundID: r.ID, BrandID: l.BrandID, Amount: l.Amount}
	}
	err := s.inTx(ctx, func(ctx context.Context) error {
		tx := conn(ctx, s.db)
		if err := tx.Create(&m).Error; err != nil {
			return err
		}
		if len(lines) == 0 {
			return nil
		}
		return tx.Create(&lines).Error
	})
	if err != nil {
		return fmt.Errorf("insert refund: %w", err)
	}
	return nil
}

// UpdateRefund writes the status, provider id and failure of r.
func (s *OrderStore) UpdateRefund(ctx context.Context, r order.Refund) error {
	err := conn(ctx, s.db).Model(&refundModel{}).Where("id = ?", r.ID).Updates(map[string]any{
		"status": string(r.Status), "provider_refund_id": r.ProviderRefundID, "failure_reason": r.FailureReason,
		"updated_at": r.UpdatedAt.UTC(),
	}).Error
	if err != nil {
		return fmt.Errorf("update refund: %w", err)
	}
	return nil
}

// CountUnsentRefunds counts pending refunds without a provider refund id
// created before createdBefore.
func (s *OrderStore) CountUnsentRefunds(ctx context.Context, createdBefore time.Time) (int, error) {
	var n int64
	err := conn(ctx, s.db).Model(&refundModel{}).
		Where("status = 'pending' AND provider_refund_id = '' AND created_at < ?", createdBefore.UTC()).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count unsent refunds: %w", err)
	}
	return int(n), nil
}

// AcknowledgedRefunds returns pending refunds with a provider refund id,
// last updated before checkedBefore, least recently updated first.
func (s *OrderStore) AcknowledgedRefunds(ctx context.Context, checkedBefore time.Time, limit int) ([]order.Refund, error) {
	db := conn(ctx, s.db)
	var rms []refundModel
	err := db.Where("status = 'pending' AND provider_refund_id <> '' AND updated_at < ?", checkedBefore.UTC()).
		Order("updated_at").Limit(limit).Find(&rms).Error
	if err != nil {
		return nil, fmt.Errorf("acknowledged refunds: %w", err)
	}
	return s.completeRefunds(db, rms)
}

// CountUnrefundedClosed counts the cancelled or expired orders holding more
// paid than refunded with no refund pending (index orders_closed_unrefunded).
func (s *OrderStore) CountUnrefundedClosed(ctx context.Context) (int, error) {
	var n int64
	err := conn(ctx, s.db).Raw(`SELECT count(*) FROM orders o
		WHERE o.status IN ('cancelled', 'expired') AND o.paid_amount > o.refunded_amount
		AND NOT EXISTS (SELECT 1 FROM order_refunds r WHERE r.order_id = o.id AND r.status = 'pending')`).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count unrefunded closed orders: %w", err)
	}
	return int(n), nil
}

// UnsentRefunds returns pending refunds without a provider refund id, last
// tried before triedBefore and created after createdAfter, least recently
// tried first.
func (s *OrderStore) UnsentRefunds(ctx context.Context, triedBefore, createdAfter time.Time, limit int) ([]order.Refund, error) {
	db := conn(ctx, s.db)
	var rms []refundModel
	err := db.Where("status = 'pending' AND provider_refund_id = '' AND updated_at < ? AND created_at > ?", triedBefore.UTC(), createdAfter.UTC()).
		Order("updated_at").Limit(limit).Find(&rms).Error
	if err != nil {
		return nil, fmt.Errorf("unsent refunds: %w", err)
	}
	return s.completeRefunds(db, rms)
}
