package order

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/daihuo/daihuo/domain/party"
)

// PinSoldOutError is the ErrSoldOut a Reserver answers when a flash pin has
// no unit left at all (not merely too few for this order), so the service
// can answer the next orders for the pin at once. It unwraps to ErrSoldOut.
type PinSoldOutError struct {
	PinID    string
	StreamID string
	EndsAt   time.Time
}

// Error returns the message of ErrSoldOut.
func (e *PinSoldOutError) Error() string { return ErrSoldOut.Error() }

// Unwrap returns ErrSoldOut.
func (e *PinSoldOutError) Unwrap() error { return ErrSoldOut }

// soldOutPin is a flash pin seen with no unit left.
type soldOutPin struct {
	streamID string
	endsAt   time.Time // when the sale ends
	until    time.Time // when this process looks again
}

// soldOutPins remembers, for a short while and in this process only, the
// flash pins seen sold out, so that the crowd arriving after the last unit
// is answered without touching the database. It is a hint, never the
// authority: an order it lets through is judged by the Reserver, and an
// entry is forgotten after Config.SoldOutTTL, so stock that comes back
// (a cancel, an expiry) is sold again soon after.
type soldOutPins struct {
	mu   sync.Mutex
	pins map[string]soldOutPin
}

// mark records pinID of streamID as sold out for ttl of wall-clock time
// (whatever the service's clock says: the entry ages with real time).
func (c *soldOutPins) mark(pinID, streamID string, endsAt time.Time, ttl time.Duration) {
	if ttl <= 0 || pinID == "" {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pins == nil {
		c.pins = map[string]soldOutPin{}
	}
	for id, p := range c.pins { // keep the map small: drop stale entries
		if len(c.pins) < 64 {
			break
		}
		if !now.Before(p.until) {
			delete(c.pins, id)
		}
	}
	c.pins[pinID] = soldOutPin{streamID: streamID, endsAt: endsAt, until: now.Add(ttl)}
}

// known reports whether pinID of streamID was seen sold out moments ago and
// its sale has not ended at now, the service's clock.
func (c *soldOutPins) known(pinID, streamID string, now time.Time) bool {
	if pinID == "" {
		return false
	}
	c.mu.Lock()
	p, ok := c.pins[pinID]
	c.mu.Unlock()
	return ok && p.streamID == streamID && time.Now().Before(p.until) && now.Before(p.endsAt)
}

// forget drops pinID: this process gave some of its stock back.
func (c *soldOutPins) forget(pinID string) {
	if pinID == "" {
		return
	}
	c.mu.Lock()
	delete(c.pins, pinID)
	c.mu.Unlock()
}

// noteSoldOut remembers the pin of a PinSoldOutError in err, if any.
func (s *Service) noteSoldOut(err error) {
	var pe *PinSoldOutError
	if errors.As(err, &pe) {
		s.soldOut.mark(pe.PinID, pe.StreamID, pe.EndsAt, s.cfg.SoldOutTTL)
	}
}

// KnownSoldOut answers ErrSoldOut when a valid order of a shopper names a
// flash pin of its stream that this process saw sold out moments ago (see
// Config.SoldOutTTL), and nil otherwise: then the order must be placed as
// usual, which decides. It reads nothing and changes nothing, so the api
// may answer with it before any other work. PlaceOrder would answer
// ErrSoldOut for such an order too, whatever its items (a sold-out pin is
// checked first).
func (s *Service) KnownSoldOut(p party.Principal, in NewOrder) error {
	if p.Role != party.RoleShopper || p.PartyID == "" || in.PinID == "" {
		return nil
	}
	in, err := in.Validate()
	if err != nil {
		return nil
	}
	if s.soldOut.known(in.PinID, in.StreamID, s.clock()) {
		return ErrSoldOut
	}
	return nil
}

// rejectedBefore returns the shopper's order placed earlier under in's
// idempotency key when this attempt was refused (sold out, limit, the sale
// over…) after the first attempt succeeded; else it returns err. The first
// attempt's answer may have been lost on the way, and its retry must get the
// order, not the refusal its own unit now causes.
func (s *Service) rejectedBefore(ctx context.Context, shopperID string, in NewOrder, err error) (Order, error) {
	if in.IdempotencyKey == "" || ctx.Err() != nil {
		return Order{}, err
	}
	o, ferr := s.store.FindByIdempotencyKey(ctx, shopperID, in.IdempotencyKey)
	if ferr == nil {
		return o, nil
	}
	return Order{}, err
}

// cleanRejection reports whether a Reserver refused a request without
// taking anything, so there is nothing to give back.
func cleanRejection(err error) bool {
	return errors.Is(err, ErrSoldOut) || errors.Is(err, ErrLimitExceeded) || errors.Is(err, ErrFlashEnded)
}
