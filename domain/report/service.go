package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/party"
)

// Store keeps the stream stats projection. Its writes join the caller's
// transaction (the consumer's dedup transaction).
type Store interface {
	// AddSale adds a paid order to the totals of its stream and of each
	// brand in it, counting its shopper as a buyer of each scope they had not
	// bought in before. An order added before changes nothing (added is
	// false). Totals kept in another currency answer ErrCurrencyMismatch
	// before anything is written.
	AddSale(ctx context.Context, s Sale) (added bool, err error)
	// AddRefund adds a refund change to the refunds of its stream and
	// brands, with the same currency rule as AddSale.
	AddRefund(ctx context.Context, r RefundChange) error
	// Totals returns the totals of a stream (brandID empty) or of one
	// brand's items in it; found is false while nothing was sold there.
	Totals(ctx context.Context, streamID, brandID string) (t Totals, found bool, err error)
}

// Streams finds streams and their line-ups, to decide who may read a
// stream's stats. storage.LiveStore implements it.
type Streams interface {
	GetStream(ctx context.Context, id string) (live.Stream, error)
	ListLineup(ctx context.Context, streamID string) ([]live.LineupItem, error)
}

// Audience reports a stream's peak and unique viewers. storage.RoomStore
// implements it.
type Audience interface {
	Audience(ctx context.Context, streamID string) (peak, unique int64, err error)
}

// Viewers reports how many viewers watch a stream now, across nodes.
// live.Presence implements it.
type Viewers interface {
	Viewers(ctx context.Context, streamID string) (int, error)
}

// Service keeps the stream stats projection up to date from the order
// events and answers a stream's stats to those who may read them.
type Service struct {
	store    Store
	streams  Streams
	audience Audience
	viewers  Viewers
	log      *slog.Logger
}

// NewService returns the report Service; a nil logger discards.
func NewService(store Store, streams Streams, audience Audience, viewers Viewers, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, streams: streams, audience: audience, viewers: viewers, log: log.With("component", "report")}
}

// Topics are the topics ConsumerGroup reads.
func Topics() []string { return []string{event.TopicOrders} }

// EventTypes are the event types Apply acts on; the others on Topics can be
// skipped before they reach it.
func EventTypes() []string {
	return []string{order.EventPaid, order.EventRefunded, order.EventRefundFailed}
}

// Apply is the handler of ConsumerGroup: it applies one order event to the
// projection, in the transaction ctx carries. Other event types change
// nothing. An event that can never apply (data that does not decode, a
// currency other than its stream's) is logged and skipped rather than
// retried forever; a database failure is returned, so the event is retried.
func (s *Service) Apply(ctx context.Context, ev event.Event) error {
	err := s.apply(ctx, ev)
	if errors.Is(err, errBadPayload) || errors.Is(err, ErrCurrencyMismatch) {
		s.log.Error("skip order event the stream stats cannot apply", "err", err,
			"event_id", ev.ID, "event_type", ev.Type, "subject", ev.Subject)
		return nil
	}
	return err
}

func (s *Service) apply(ctx context.Context, ev event.Event) error {
	switch ev.Type {
	case order.EventPaid:
		var p order.OrderPayload
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			return fmt.Errorf("%w: %v", errBadPayload, err)
		}
		sale, ok, err := SaleOf(p)
		if errors.Is(err, ErrCurrencyMismatch) {
			return err
		}
		if err != nil {
			return fmt.Errorf("%w: %v", errBadPayload, err)
		}
		if !ok {
			return nil
		}
		if _, err := s.store.AddSale(ctx, sale); err != nil {
			return fmt.Errorf("add sale %s: %w", sale.OrderID, err)
		}
		return nil
	case order.EventRefunded, order.EventRefundFailed:
		var p order.RefundPayload
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			return fmt.Errorf("%w: %v", errBadPayload, err)
		}
		change, ok, err := RefundOf(p, ev.Type == order.EventRefundFailed)
		if errors.Is(err, ErrCurrencyMismatch) {
			return err
		}
		if err != nil {
			return fmt.Errorf("%w: %v", errBadPayload, err)
		}
		if !ok {
			return nil
		}
		if err := s.store.AddRefund(ctx, change); err != nil {
			return fmt.Errorf("add refund %s: %w", change.RefundID, err)
		}
		return nil
	}
	return nil
}

// Stats is what a stream's stats show one reader: the audience of the whole
// stream, and the sales of the reader's scope.
type Stats struct {
	StreamID string
	// BrandID is the brand whose items the sales figures count; empty when
	// they count the whole stream.
	BrandID       string
	Viewers       int64
	PeakViewers   int64
	UniqueViewers int64
	Orders        int64
	GMV           money.Money
	Units         int64
	Buyers        int64
	Refunds       money.Money
	Commission    money.Money
	// Conversion is Buyers / UniqueViewers, 4 decimals (see Conversion).
	Conversion float64
	// UpdatedAt is when the last event changed these sales figures; nil
	// while there were none.
	UpdatedAt *time.Time
}

// StreamStats returns a stream's stats as p may see them. The stream's
// creator, its agency and admins see the whole stream; a brand with a
// product in its line-up sees the audience and the sales of its own items
// only (orders holding them, their value, units, buyers, refunds booked to
// it and the commission it owes), never another brand's. Anyone else gets
// errs.ErrNotFound, as for a stream that does not exist.
func (s *Service) StreamStats(ctx context.Context, p party.Principal, streamID string) (Stats, error) {
	if p.Role == party.RoleShopper || p.Role == "" {
		return Stats{}, errs.ErrForbidden
	}
	if !id.Valid(live.PrefixStream, streamID) {
		return Stats{}, errs.ErrNotFound
	}
	st, err := s.streams.GetStream(ctx, streamID)
	if err != nil {
		return Stats{}, err
	}
	brandID, err := s.scope(ctx, p, st)
	if err != nil {
		return Stats{}, err
	}
	t, found, err := s.store.Totals(ctx, st.ID, brandID)
	if err != nil {
		return Stats{}, err
	}
	peak, unique, err := s.audience.Audience(ctx, st.ID)
	if err != nil {
		return Stats{}, err
	}
	var now int
	if s.viewers != nil {
		if now, err = s.viewers.Viewers(ctx, st.ID); err != nil {
			return Stats{}, err
		}
	}
	cur := st.Currency
	if found && t.Currency != "" {
		cur = t.Currency
	}
	out := Stats{
		StreamID: st.ID, BrandID: brandID,
		Viewers: int64(now), PeakViewers: max(peak, int64(now)), UniqueViewers: unique,
		Orders: t.Orders, GMV: money.Money{Amount: t.GMV, Currency: cur}, Units: t.Units, Buyers: t.Buyers,
		Refunds: money.Money{Amount: t.Refunds, Currency: cur}, Commission: money.Money{Amount: t.Commission, Currency: cur},
		Conversion: Conversion(t.Buyers, unique),
	}
	if found {
		at := t.UpdatedAt.UTC()
		out.UpdatedAt = &at
	}
	return out, nil
}

// scope returns whose sales p reads in st: "" for the whole stream, a brand
// id for a line-up brand's own (also once its products were removed: what
// it sold there is still its own), or errs.ErrNotFound.
func (s *Service) scope(ctx context.Context, p party.Principal, st live.Stream) (string, error) {
	switch {
	case p.IsAdmin(), p.IsCreator(st.CreatorID), st.AgencyID != "" && p.IsAgency(st.AgencyID):
		return "", nil
	case p.Role == party.RoleBrand && p.PartyID != "":
		items, err := s.streams.ListLineup(ctx, st.ID)
		if err != nil {
			return "", err
		}
		for _, it := range items {
			if it.BrandID == p.PartyID {
				return p.PartyID, nil
			}
		}
	}
	return "", errs.ErrNotFound
}
