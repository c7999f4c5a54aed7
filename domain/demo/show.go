package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/party"
)

// The demo show: Mia hosts Maison Lumière's line-up live, with the scarf
// on a flash sale, so a fresh `daihuo serve --demo` has something to watch
// and buy at once.
const (
	ShowTitle = "Paris evening picks with Mia"
	// ShowCommissionBPS is the creator's commission on the show's line-up.
	ShowCommissionBPS = 1500
	// FlashQuantity, FlashPerBuyer and FlashLength shape each flash sale
	// the seed pins.
	FlashQuantity = 50
	FlashPerBuyer = 2
	FlashLength   = 2 * time.Hour
)

// Show is the demo's live stream and the flash sale pinned on it.
type Show struct {
	Stream live.Stream
	Flash  live.Pin
}

// seedShow finds Mia's demo show still on air, or schedules and starts a
// new one, puts every product of brand never offered there in its line-up
// and pins the first one as a flash sale (of what stock is left) unless a
// flash sale on screen still sells or the product was taken out of the
// line-up. What the host and the brand changed since stays as they left
// it. The brand pins, the creator hosts, as they would through the api.
func seedShow(ctx context.Context, lv *live.Service, now time.Time, host party.Creator, brand BrandSeed) (Show, error) {
	asHost := party.Principal{Role: party.RoleCreator, PartyID: host.ID}
	asBrand := party.Principal{Role: party.RoleBrand, PartyID: brand.Brand.ID}
	if len(brand.Products) == 0 {
		return Show{}, errors.New("the show's brand has no products")
	}
	st, err := lv.FindOpenStream(ctx, asHost, host.ID, ShowTitle)
	if errors.Is(err, errs.ErrNotFound) {
		st, err = lv.CreateStream(ctx, asHost, live.NewStream{Title: ShowTitle, Currency: brand.Products[0].Currency()})
	}
	if err != nil {
		return Show{}, fmt.Errorf("show: %w", err)
	}
	// Products offered before keep the terms the brand set since, and stay
	// out when the host or the brand took them out.
	lineup, err := lv.LineupRecord(ctx, asBrand, st.ID)
	if err != nil {
		return Show{}, fmt.Errorf("show line-up: %w", err)
	}
	for _, p := range brand.Products {
		if slices.ContainsFunc(lineup, func(v live.LineupView) bool { return v.ProductID == p.ID }) {
			continue
		}
		if _, err := lv.AddToLineup(ctx, asBrand, st.ID, p.ID, ShowCommissionBPS); err != nil {
			return Show{}, fmt.Errorf("show line-up %s: %w", p.Title, err)
		}
	}
	if st.Status == live.StatusScheduled {
		if st, err = lv.StartStream(ctx, asHost, st.ID); err != nil {
			return Show{}, fmt.Errorf("start show: %w", err)
		}
	}
	_, pins, err := lv.GetStream(ctx, st.ID)
	if err != nil {
		return Show{}, fmt.Errorf("show pins: %w", err)
	}
	for _, p := range pins {
		if p.Flash != nil && p.Flash.Active(now) {
			return Show{Stream: st, Flash: p}, nil
		}
	}
	// A sale offers at most what is left on the shelf, and none once the
	// scarf is gone or out of the line-up.
	scarf := brand.Products[0]
	stock := scarf.StockAvailable()
	if stock == 0 || slices.ContainsFunc(lineup, func(v live.LineupView) bool { return v.ProductID == scarf.ID && !v.Offered() }) {
		return Show{Stream: st}, nil
	}
	pin, err := lv.PinProduct(ctx, asBrand, st.ID, live.NewPin{ProductID: scarf.ID, Flash: &live.NewFlash{
		Price:         eur(5900), // a third off the scarf's EUR 89.00
		Quantity:      min(FlashQuantity, stock),
		PerBuyerLimit: min(FlashPerBuyer, stock),
		EndsAt:        now.Add(FlashLength),
	}})
	if err != nil {
		return Show{}, fmt.Errorf("pin the flash sale: %w", err)
	}
	return Show{Stream: st, Flash: pin}, nil
}

// print tells where to watch the show and how to buy in it.
func (sh Show) print(w io.Writer, base string) error {
	if sh.Stream.ID == "" {
		return nil
	}
	fmt.Fprintf(w, "\nLive now: %q, stream %s\n", sh.Stream.Title, sh.Stream.ID)
	fmt.Fprintf(w, "  watch and buy: %s/watch/%s\n", strings.TrimSuffix(base, "/"), sh.Stream.ID)
	if f := live.PinPayloadOf(sh.Flash).Flash; f != nil { // what the player shows
		fmt.Fprintf(w, "  flash sale: %s at %s, %d of %d left, %d per buyer, until %s\n",
			sh.Flash.Product.Title, f.Price, f.Remaining, f.Quantity, f.PerBuyerLimit, f.EndsAt.Format("15:04 MST"))
	}
	_, err := fmt.Fprintf(w, "  pay with card 4242 4242 4242 4242; 4000 0000 0000 0002 is declined\n")
	return err
}
