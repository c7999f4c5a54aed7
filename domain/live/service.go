package live

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/party"
)

// Store keeps streams, line-ups and pins. Get methods answer
// errs.ErrNotFound when nothing matches.
type Store interface {
	CreateStream(ctx context.Context, s Stream) error
	GetStream(ctx context.Context, id string) (Stream, error)
	// FindOpenStream returns the newest stream of the creator with this
	// exact title that has not ended.
	FindOpenStream(ctx context.Context, creatorID, title string) (Stream, error)
	// LockStream reads a stream and locks it until the caller's transaction
	// ends, so changes to one stream (pins, state) happen one at a time.
	LockStream(ctx context.Context, id string) (Stream, error)
	// SaveStreamState writes the status, started_at and ended_at of s.
	SaveStreamState(ctx context.Context, s Stream) error
	// PutLineupItem adds the item or updates its commission; an item that
	// was removed is offered again, as added at it.AddedAt.
	PutLineupItem(ctx context.Context, it LineupItem) error
	// RemoveLineupItem marks an offered item removed at at, by the host or
	// by its brand; an item absent or already removed answers errs.ErrNotFound.
	RemoveLineupItem(ctx context.Context, streamID, productID string, at time.Time, byHost bool) error
	// GetLineupItem and ListLineup return removed items too.
	GetLineupItem(ctx context.Context, streamID, productID string) (LineupItem, error)
	ListLineup(ctx context.Context, streamID string) ([]LineupItem, error)
	InsertPin(ctx context.Context, p Pin) error
	// ActivePins returns the stream's pins on screen, oldest first.
	ActivePins(ctx context.Context, streamID string) ([]Pin, error)
	GetPin(ctx context.Context, streamID, pinID string) (Pin, error)
	// Unpin marks an active pin removed at at; a pin already removed answers
	// errs.ErrNotFound.
	Unpin(ctx context.Context, pinID string, at time.Time, offsetMS int64) error
	// Pins returns every pin of the stream, active or not, oldest first.
	Pins(ctx context.Context, streamID string) ([]Pin, error)
	// EndedFlashPins returns up to limit active flash pins, of any stream,
	// whose sale ended at or before now.
	EndedFlashPins(ctx context.Context, now time.Time, limit int) ([]Pin, error)
}

// Creators finds the creators that host streams.
type Creators interface {
	GetCreator(ctx context.Context, id string) (party.Creator, error)
}

// Products finds the products of line-ups and pins.
type Products interface {
	GetProduct(ctx context.Context, id string) (catalog.Product, error)
	// LockProduct is GetProduct holding the product's stock still until
	// the caller's transaction ends: every change of its stock waits, so a
	// new flash pin's count misses none (and later ones tell its viewers).
	LockProduct(ctx context.Context, id string) (catalog.Product, error)
}

// Publisher records events in the caller's transaction (the outbox).
type Publisher interface {
	Publish(ctx context.Context, evs ...event.Event) error
}

// Transactor runs fn in one database transaction.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Service runs the live room. Who may act is checked here as well as in the
// api: objects the caller may not see answer errs.ErrNotFound.
type Service struct {
	store    Store
	creators Creators
	products Products
	pub      Publisher
	tx       Transactor
	now      func() time.Time
}

// NewService returns a live-room Service; now is the clock.
func NewService(store Store, creators Creators, products Products, pub Publisher, tx Transactor, now func() time.Time) *Service {
	return &Service{store: store, creators: creators, products: products, pub: pub, tx: tx, now: now}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// CreateStream schedules a stream. A creator creates its own; an agency
// creates one for a creator it manages (CreatorID required).
func (s *Service) CreateStream(ctx context.Context, p party.Principal, in NewStream) (Stream, error) {
	now := s.clock()
	switch p.Role {
	case party.RoleCreator:
		if in.CreatorID == "" {
			in.CreatorID = p.PartyID
		}
		if in.CreatorID != p.PartyID {
			return Stream{}, errs.Invalid("creator_id", "must be your own creator id")
		}
	case party.RoleAgency, party.RoleAdmin:
		if in.CreatorID == "" {
			return Stream{}, errs.Invalid("creator_id", "is required")
		}
	default:
		return Stream{}, errs.ErrForbidden
	}
	if err := in.normalize(now); err != nil {
		return Stream{}, err
	}
	c, err := s.creators.GetCreator(ctx, in.CreatorID)
	if errors.Is(err, errs.ErrNotFound) || (err == nil && p.Role == party.RoleAgency && c.AgencyID != p.PartyID) {
		return Stream{}, errs.Invalid("creator_id", "no such creator")
	}
	if err != nil {
		return Stream{}, err
	}
	st := Stream{
		ID: id.New(PrefixStream, now), CreatorID: c.ID, AgencyID: c.AgencyID,
		Title: in.Title, Currency: in.Currency, Status: StatusScheduled,
		PlaybackURL: in.PlaybackURL, ScheduledAt: in.ScheduledAt, CreatedAt: now,
	}
	return st, s.store.CreateStream(ctx, st)
}

// Stream returns a stream alone, without its pins; anyone may read it.
func (s *Service) Stream(ctx context.Context, streamID string) (Stream, error) {
	return s.store.GetStream(ctx, streamID)
}

// GetStream returns a stream with its pins on screen; anyone may read it.
func (s *Service) GetStream(ctx context.Context, streamID string) (Stream, []Pin, error) {
	st, err := s.store.GetStream(ctx, streamID)
	if err != nil {
		return Stream{}, nil, err
	}
	pins, err := s.store.ActivePins(ctx, streamID)
	if err != nil {
		return Stream{}, nil, err
	}
	if err := s.fillProducts(ctx, pins); err != nil {
		return Stream{}, nil, err
	}
	return st, pins, nil
}

// FindOpenStream returns the newest stream of the creator titled title that
// is scheduled or live, for its host (the creator, its agency) or an admin;
// errs.ErrNotFound for anyone else or when there is none. It lets a host
// pick up a show again instead of scheduling a second one.
func (s *Service) FindOpenStream(ctx context.Context, p party.Principal, creatorID, title string) (Stream, error) {
	st, err := s.store.FindOpenStream(ctx, creatorID, title)
	if err != nil {
		return Stream{}, err
	}
	if !canHost(p, st) && !p.IsAdmin() {
		return Stream{}, errs.ErrNotFound
	}
	return st, nil
}

// canHost reports whether p runs the stream: its creator, the creator's agency.
func canHost(p party.Principal, st Stream) bool {
	return p.IsCreator(st.CreatorID) || (st.AgencyID != "" && p.IsAgency(st.AgencyID))
}

// StartStream puts a scheduled stream on air; its creator or agency may.
func (s *Service) StartStream(ctx context.Context, p party.Principal, streamID string) (Stream, error) {
	return s.transition(ctx, p, streamID, false, func(st *Stream, now time.Time) error { return st.Start(now) }, EventStreamStarted)
}

// EndStream takes a stream off air, removing its pins; its creator or agency
// may, and an admin may take any stream down.
func (s *Service) EndStream(ctx context.Context, p party.Principal, streamID string) (Stream, error) {
	return s.transition(ctx, p, streamID, true, func(st *Stream, now time.Time) error { return st.End(now) }, EventStreamEnded)
}

func (s *Service) transition(ctx context.Context, p party.Principal, streamID string, adminMay bool, change func(*Stream, time.Time) error, typ string) (Stream, error) {
	var st Stream
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if st, err = s.store.LockStream(ctx, streamID); err != nil {
			return err
		}
		if !canHost(p, st) && !(adminMay && p.IsAdmin()) {
			return errs.ErrNotFound
		}
		now := s.clock()
		if err := change(&st, now); err != nil {
			return err
		}
		if err := s.store.SaveStreamState(ctx, st); err != nil {
			return err
		}
		var evs []event.Event
		if st.Status == StatusEnded {
			if evs, err = s.unpinWhere(ctx, st, now, func(Pin) bool { return true }); err != nil {
				return err
			}
		}
		ev, err := event.New(event.TopicLive, typ, st.ID, StreamPayloadOf(st), now)
		if err != nil {
			return err
		}
		return s.pub.Publish(ctx, append(evs, ev)...)
	})
	return st, err
}

// AddToLineup offers a brand's own product in a stream with a commission;
// adding it again updates the commission.
func (s *Service) AddToLineup(ctx context.Context, p party.Principal, streamID, productID string, commissionBPS int) (LineupItem, error) {
	if p.Role != party.RoleBrand {
		return LineupItem{}, errs.ErrForbidden
	}
	if err := validateCommission(commissionBPS); err != nil {
		return LineupItem{}, err
	}
	var it LineupItem
	// Under the stream's lock, as every change to a stream: a start, an end
	// or another request of the brand cannot slip between the checks and
	// the write.
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		st, err := s.store.LockStream(ctx, streamID)
		if err != nil {
			return err
		}
		if st.Status == StatusEnded {
			return ErrStreamEnded
		}
		prod, err := s.products.GetProduct(ctx, productID)
		if errors.Is(err, errs.ErrNotFound) || (err == nil && prod.BrandID != p.PartyID) {
			return errs.Invalid("product_id", "no such product in your catalog")
		}
		if err != nil {
			return err
		}
		if prod.Currency() != st.Currency {
			return errs.Invalid("product_id", "is priced in %s but the stream sells in %s", prod.Currency(), st.Currency)
		}
		was, err := s.store.GetLineupItem(ctx, st.ID, prod.ID)
		switch {
		case errors.Is(err, errs.ErrNotFound):
		case err != nil:
			return err
		case was.RemovedByHost:
			return ErrLineupDeclined // the host's say over its own show
		case st.Status == StatusLive && commissionBPS < was.CommissionBPS:
			// The host promotes the product on the terms it joined with:
			// while the show is on, a brand may raise its commission, never
			// cut it, not even by withdrawing the product and offering it
			// again.
			return ErrCommissionCut
		}
		it = LineupItem{StreamID: st.ID, ProductID: prod.ID, BrandID: prod.BrandID, CommissionBPS: commissionBPS, AddedAt: s.clock()}
		return s.store.PutLineupItem(ctx, it)
	})
	if err != nil {
		return LineupItem{}, err
	}
	return it, nil
}

// LineupView is a line-up item as one caller sees it: the commission is a
// deal between the brand and the host, shown to them, the host's agency and
// admins only.
type LineupView struct {
	LineupItem
	ShowsCommission bool
}

// Lineup lists the products offered in a stream, to anyone, each as p may
// see it.
func (s *Service) Lineup(ctx context.Context, p party.Principal, streamID string) ([]LineupView, error) {
	return s.lineup(ctx, p, streamID, false)
}

// LineupRecord is Lineup with the products taken out of it too (their
// RemovedAt set), as the record of who was offered there.
func (s *Service) LineupRecord(ctx context.Context, p party.Principal, streamID string) ([]LineupView, error) {
	return s.lineup(ctx, p, streamID, true)
}

func (s *Service) lineup(ctx context.Context, p party.Principal, streamID string, removed bool) ([]LineupView, error) {
	st, err := s.store.GetStream(ctx, streamID)
	if err != nil {
		return nil, err
	}
	items, err := s.store.ListLineup(ctx, streamID)
	if err != nil {
		return nil, err
	}
	views := make([]LineupView, 0, len(items))
	for _, it := range items {
		if removed || it.Offered() {
			views = append(views, LineupView{LineupItem: it, ShowsCommission: canHost(p, st) || p.IsAdmin() || p.IsBrand(it.BrandID)})
		}
	}
	return views, nil
}

// RemoveFromLineup takes a product out of a stream's line-up and off the
// screen (its pins are removed, a flash sale with them), so it can no
// longer be pinned or ordered there; orders already placed stay payable.
// The host (the stream's creator or agency) or an admin may remove any
// product, and its brand cannot offer it in this stream again; the brand
// may withdraw its own and offer it again later. Not once the stream has
// ended: its line-up is then the record of the show.
func (s *Service) RemoveFromLineup(ctx context.Context, p party.Principal, streamID, productID string) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		st, err := s.store.LockStream(ctx, streamID)
		if err != nil {
			return err
		}
		item, err := s.store.GetLineupItem(ctx, st.ID, productID)
		if err != nil {
			return err
		}
		byHost := canHost(p, st) || p.IsAdmin()
		if !item.Offered() || (!byHost && !p.IsBrand(item.BrandID)) {
			return errs.ErrNotFound
		}
		if st.Status == StatusEnded {
			return ErrStreamEnded
		}
		now := s.clock()
		if err := s.store.RemoveLineupItem(ctx, st.ID, item.ProductID, now, byHost); err != nil {
			return err
		}
		evs, err := s.unpinWhere(ctx, st, now, func(pin Pin) bool { return pin.ProductID == item.ProductID })
		if err != nil {
			return err
		}
		return s.pub.Publish(ctx, evs...)
	})
}

// PinProduct shows a line-up product on every viewer's player, optionally as
// a flash sale. The brand pins its own products, the host any line-up
// product at its price; a flash sale (a price of the brand's) only the
// brand. Only while the stream is live. A new flash sale of a product
// takes its running one off the screen, so two sales of the same units are
// never offered at once. With MaxActivePins
// already on screen, the oldest pin the caller may take down is unpinned in
// the same transaction: the host's any, a brand's only its own, so no brand
// ends another's flash sale; when there is none, ErrScreenFull.
func (s *Service) PinProduct(ctx context.Context, p party.Principal, streamID string, in NewPin) (Pin, error) {
	var pin Pin
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		st, err := s.store.LockStream(ctx, streamID)
		if err != nil {
			return err
		}
		item, err := s.store.GetLineupItem(ctx, st.ID, in.ProductID)
		if errors.Is(err, errs.ErrNotFound) || (err == nil && !item.Offered()) {
			return ErrNotInLineup
		}
		if err != nil {
			return err
		}
		if !p.IsCreator(st.CreatorID) && !p.IsBrand(item.BrandID) {
			if p.Role == party.RoleBrand {
				return ErrNotInLineup // another brand's product: as if absent
			}
			return errs.ErrNotFound
		}
		if in.Flash != nil && !p.IsBrand(item.BrandID) {
			return ErrFlashBrandOnly
		}
		if st.Status != StatusLive {
			return ErrNotLive
		}
		now := s.clock()
		pin = Pin{
			ID: id.New(PrefixPin, now), StreamID: st.ID, ProductID: item.ProductID, BrandID: item.BrandID,
			PinnedAt: now, OffsetMS: st.Offset(now).Milliseconds(),
		}
		if in.Flash != nil {
			if err := in.Flash.validate(st.Currency, now); err != nil {
				return prefixed("flash.", err)
			}
			f := *in.Flash
			pin.Flash = &Flash{Price: f.Price, Quantity: f.Quantity, Remaining: f.Quantity, PerBuyerLimit: f.PerBuyerLimit,
				EndsAt: f.EndsAt.UTC().Truncate(time.Microsecond)} // as stored, so every reader gets the same time
		}
		if pin.Product, err = s.products.GetProduct(ctx, item.ProductID); err != nil {
			return err
		}
		// A sale of more units than the shelves hold would show units that
		// every buyer is refused.
		checkStock := func() error {
			if stock := pin.Product.StockAvailable(); pin.Flash != nil && pin.Flash.Quantity > stock {
				return errs.Invalid("flash.quantity", "must be at most the %d units of the product in stock", stock)
			}
			return nil
		}
		if err := checkStock(); err != nil {
			return err
		}
		active, err := s.store.ActivePins(ctx, st.ID)
		if err != nil {
			return err
		}
		var evs []event.Event
		for i := 0; i < len(active); i++ {
			if pin.Flash == nil || active[i].Flash == nil || active[i].ProductID != pin.ProductID {
				continue
			}
			ev, err := s.unpin(ctx, st, active[i], now) // the new sale replaces the running one
			if err != nil {
				return err
			}
			evs, active = append(evs, ev), slices.Delete(active, i, i+1)
			i--
		}
		for len(active) >= MaxActivePins {
			i := slices.IndexFunc(active, func(a Pin) bool { return p.IsCreator(st.CreatorID) || p.IsBrand(a.BrandID) })
			if i < 0 {
				return ErrScreenFull
			}
			ev, err := s.unpin(ctx, st, active[i], now)
			if err != nil {
				return err
			}
			evs, active = append(evs, ev), slices.Delete(active, i, i+1)
		}
		if pin.Flash != nil { // after the pin locks its unpins took, in the lock order
			if pin.Product, err = s.products.LockProduct(ctx, item.ProductID); err != nil {
				return err
			}
			if err := checkStock(); err != nil {
				return err
			}
		}
		if err := s.store.InsertPin(ctx, pin); err != nil {
			return err
		}
		ev, err := event.New(event.TopicLive, EventPinAdded, st.ID, PinPayloadOf(pin), now)
		if err != nil {
			return err
		}
		return s.pub.Publish(ctx, append(evs, ev)...)
	})
	return pin, err
}

// Unpin removes a pin from the screen; whoever may pin it may unpin it.
func (s *Service) Unpin(ctx context.Context, p party.Principal, streamID, pinID string) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		st, err := s.store.LockStream(ctx, streamID)
		if err != nil {
			return err
		}
		pin, err := s.store.GetPin(ctx, st.ID, pinID)
		if err != nil {
			return err
		}
		if !p.IsCreator(st.CreatorID) && !p.IsBrand(pin.BrandID) {
			return errs.ErrNotFound
		}
		if !pin.Active() {
			return errs.ErrNotFound
		}
		ev, err := s.unpin(ctx, st, pin, s.clock())
		if err != nil {
			return err
		}
		return s.pub.Publish(ctx, ev)
	})
}

// unpinWhere takes off the screen the pins of st that match, returning
// their pin.removed events.
func (s *Service) unpinWhere(ctx context.Context, st Stream, now time.Time, match func(Pin) bool) ([]event.Event, error) {
	pins, err := s.store.ActivePins(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	var evs []event.Event
	for _, pin := range pins {
		if !match(pin) {
			continue
		}
		ev, err := s.unpin(ctx, st, pin, now)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func (s *Service) unpin(ctx context.Context, st Stream, pin Pin, now time.Time) (event.Event, error) {
	off := st.Offset(now).Milliseconds()
	if err := s.store.Unpin(ctx, pin.ID, now, off); err != nil {
		return event.Event{}, err
	}
	pin.UnpinnedAt, pin.UnpinOffset = &now, off
	return event.New(event.TopicLive, EventPinRemoved, st.ID, PinRemovedPayload{PinID: pin.ID, StreamID: st.ID, At: now, OffsetMS: off}, now)
}

// EndFlashSales takes off the screen, in batches of up to limit, the flash
// pins whose sale has ended, each in its stream's transaction with its
// pin.removed event, and reports how many. Their unsold units were never
// taken from the variants, so nothing goes back. Safe on several nodes at
// once: a pin another node took down is skipped.
func (s *Service) EndFlashSales(ctx context.Context, limit int) (int, error) {
	ended := 0
	var failed []error
	for range 10 { // a bounded round; the next call goes on
		due, err := s.store.EndedFlashPins(ctx, s.clock(), limit)
		if err != nil {
			return ended, err
		}
		for _, d := range due {
			took := false
			err := s.tx.InTx(ctx, func(ctx context.Context) error {
				st, err := s.store.LockStream(ctx, d.StreamID)
				if err != nil {
					return err
				}
				pin, err := s.store.GetPin(ctx, st.ID, d.ID)
				if err != nil {
					return err
				}
				now := s.clock()
				if !pin.Active() || pin.Flash == nil || pin.Flash.EndsAt.After(now) {
					return nil
				}
				ev, err := s.unpin(ctx, st, pin, now)
				if err != nil {
					return err
				}
				took = true
				return s.pub.Publish(ctx, ev)
			})
			if err != nil { // the others go on; this one is tried again next time
				failed = append(failed, fmt.Errorf("end flash sale %s: %w", d.ID, err))
				if ctx.Err() != nil {
					return ended, errors.Join(failed...)
				}
			}
			if took {
				ended++
			}
		}
		if len(due) < limit || len(failed) > 0 {
			break // a failing pin comes first again: leave the rest to the next call
		}
	}
	return ended, errors.Join(failed...)
}

// Timeline returns every pin and unpin of a stream in order, for replays.
func (s *Service) Timeline(ctx context.Context, streamID string) ([]TimelineEntry, error) {
	if _, err := s.store.GetStream(ctx, streamID); err != nil {
		return nil, err
	}
	pins, err := s.store.Pins(ctx, streamID)
	if err != nil {
		return nil, err
	}
	if err := s.fillProducts(ctx, pins); err != nil {
		return nil, err
	}
	return BuildTimeline(pins), nil
}

// fillProducts loads the product of each pin, once per product.
func (s *Service) fillProducts(ctx context.Context, pins []Pin) error {
	cache := map[string]catalog.Product{}
	for i := range pins {
		prod, ok := cache[pins[i].ProductID]
		if !ok {
			var err error
			if prod, err = s.products.GetProduct(ctx, pins[i].ProductID); err != nil {
				return err
			}
			cache[prod.ID] = prod
		}
		pins[i].Product = prod
	}
	return nil
}

// prefixed puts a field prefix on the fields of a validation error.
func prefixed(prefix string, err error) error {
	var v errs.Validator
	v.Add(prefix, err)
	return v.Err()
}
