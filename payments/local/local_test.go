package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/payments/paymenttest"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

const secret = "whsec_local_test"

// wait bounds every wait for a background delivery; it is never a timing
// assertion, only a guard against hanging.
const wait = 20 * time.Second

// endpoint is the app's webhook route as the simulator sees it: it verifies
// every delivery with the simulator's ParseWebhook, as the app will, and
// records the events. fail makes the next deliveries fail.
type endpoint struct {
	sim *local.Simulator

	mu       sync.Mutex
	fail     int
	attempts map[string]int // event id → deliveries received
	events   []payment.WebhookEvent
	changed  chan struct{}
}

func newEndpoint() *endpoint {
	return &endpoint{attempts: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (e *endpoint) deliver(_ context.Context, payload []byte, header string) error {
	ev, err := e.sim.ParseWebhook(payload, header)
	if err != nil {
		return fmt.Errorf("endpoint: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.attempts[ev.ID]++
	if e.fail > 0 {
		e.fail--
		return errors.New("endpoint: 503 service unavailable")
	}
	e.events = append(e.events, ev)
	select {
	case e.changed <- struct{}{}:
	default:
	}
	return nil
}

func (e *endpoint) setFail(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fail = n
}

// received returns the events accepted so far.
func (e *endpoint) received() []payment.WebhookEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]payment.WebhookEvent(nil), e.events...)
}

// waitFor waits until an accepted event matches and returns it.
func (e *endpoint) waitFor(t *testing.T, what string, match func(payment.WebhookEvent) bool) payment.WebhookEvent {
	t.Helper()
	deadline := time.After(wait)
	for {
		for _, ev := range e.received() {
			if match(ev) {
				return ev
			}
		}
		select {
		case <-e.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s webhook within %s; got %+v", what, wait, e.received())
		}
	}
}

type fixture struct {
	db    *gorm.DB
	store *storage.PaymentsLocalStore
	sim   *local.Simulator
	ep    *endpoint
}

// newSim returns a simulator on db with fast retries; run starts its Run
// loop for the test.
func newSim(t *testing.T, db *gorm.DB, run bool) fixture {
	t.Helper()
	ep := newEndpoint()
	store := storage.NewPaymentsLocalStore(db)
	sim, err := local.New(store, local.Config{
		WebhookSecret: secret,
		Deliver:       ep.deliver,
		RetryBase:     time.Millisecond,
		RetryMax:      20 * time.Millisecond,
		PollInterval:  10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ep.sim = sim
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sim.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	return fixture{db: db, store: store, sim: sim, ep: ep}
}

func eur(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }

func create(t *testing.T, sim *local.Simulator, amount int64, key string) payment.Intent {
	t.Helper()
	it, err := sim.CreateIntent(context.Background(), payment.IntentRequest{
		Amount: eur(amount), IdempotencyKey: key, Metadata: map[string]string{"order_id": "ord_" + key},
	})
	if err != nil {
		t.Fatalf("CreateIntent: %v", err)
	}
	return it
}

func TestContract(t *testing.T) {
	paymenttest.Run(t, func(t *testing.T) paymenttest.Harness {
		f := newSim(t, storagetest.NewDB(t), true)
		return paymenttest.Harness{
			Gateway:       f.sim,
			WebhookSecret: secret,
			Stateful:      true,
			Destination:   "acct_local_creator",
			Pay: func(t *testing.T, it payment.Intent) {
				t.Helper()
				st, err := f.sim.Confirm(context.Background(), it.ID, it.ClientSecret, local.CardSucceeds)
				if err != nil || st != payment.IntentSucceeded {
					t.Fatalf("Confirm = %q, %v; want succeeded", st, err)
				}
			},
		}
	})
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	store := storage.NewPaymentsLocalStore(storagetest.NewDB(t))
	deliver := func(context.Context, []byte, string) error { return nil }
	cases := []struct {
		name  string
		store local.Store
		cfg   local.Config
	}{
		{"no store", nil, local.Config{WebhookSecret: secret, Deliver: deliver}},
		{"no secret", store, local.Config{Deliver: deliver}},
		{"no deliver", store, local.Config{WebhookSecret: secret}},
	}
	for _, c := range cases {
		if _, err := local.New(c.store, c.cfg); err == nil {
			t.Errorf("%s: New accepted it", c.name)
		}
	}
}

func TestConfirm(t *testing.T) {
	f := newSim(t, storagetest.NewDB(t), false)
	ctx := context.Background()
	cases := []struct {
		name        string
		card        string
		wantStatus  payment.IntentStatus
		wantDecline string // decline code, or "" for a success
		wantField   bool   // a validation error on card_number
	}{
		{"succeeds", local.CardSucceeds, payment.IntentSucceeded, "", false},
		{"succeeds with spaces", "4242 4242 4242 4242", payment.IntentSucceeded, "", false},
		{"other valid number succeeds", "5555555555554444", payment.IntentSucceeded, "", false},
		{"declined", local.CardDeclined, payment.IntentRequiresPaymentMethod, "generic_decline", false},
		{"insufficient funds", local.CardInsufficientFunds, payment.IntentRequiresPaymentMethod, "insufficient_funds", false},
		{"expired", local.CardExpired, payment.IntentRequiresPaymentMethod, "expired_card", false},
		{"empty", "", "", "", true},
		{"short", "4242", "", "", true},
		{"17 digits", "42424242424242424", "", "", true},
		{"letters", "4242abcd42424242", "", "", true},
		{"fails Luhn", "4242424242424241", "", "", true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			it := create(t, f.sim, 1999, fmt.Sprintf("confirm-%d", i))
			st, err := f.sim.Confirm(ctx, it.ID, it.ClientSecret, c.card)
			switch {
			case c.wantField:
				var ve *errs.ValidationError
				if !errors.As(err, &ve) || ve.Fields[0].Field != "card_number" {
					t.Fatalf("Confirm = %q, %v; want a card_number validation error", st, err)
				}
			case c.wantDecline != "":
				var de *payment.DeclineError
				if !errors.As(err, &de) || de.Code != c.wantDecline || !errors.Is(err, payment.ErrDeclined) {
					t.Fatalf("Confirm error = %v, want decline %s", err, c.wantDecline)
				}
			case err != nil:
				t.Fatalf("Confirm: %v", err)
			}
			if st != c.wantStatus {
				t.Errorf("status = %q, want %q", st, c.wantStatus)
			}
			got, err := f.sim.GetIntent(ctx, it.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := c.wantStatus
			if c.wantField {
				want = payment.IntentRequiresPaymentMethod // untouched
			}
			if got.Status != want || got.FailureCode != c.wantDecline {
				t.Errorf("stored intent: status %q failure %q; want %q %q", got.Status, got.FailureCode, want, c.wantDecline)
			}
			if c.wantField {
				return
			}
			// The webhook was delivered, verified and parsed before Confirm returned.
			wantType := payment.EventIntentSucceeded
			if c.wantDecline != "" {
				wantType = payment.EventIntentFailed
			}
			var ev *payment.WebhookEvent
			for _, e := range f.ep.received() {
				if e.IntentID == it.ID {
					ev = &e
				}
			}
			switch {
			case ev == nil:
				t.Fatalf("no webhook for %s", it.ID)
			case ev.Type != wantType || ev.Provider != payment.ProviderLocal || ev.Amount != eur(1999) ||
				ev.FailureCode != c.wantDecline || ev.Metadata["order_id"] != fmt.Sprintf("ord_confirm-%d", i) ||
				!strings.HasPrefix(ev.ID, local.PrefixEvent+"_"):
				t.Errorf("webhook %+v", *ev)
			case c.wantDecline != "" && ev.FailureReason == "":
				t.Errorf("declined webhook without a reason: %+v", *ev)
			}
		})
	}
}

func TestConfirmRefusals(t *testing.T) {
	f := newSim(t, storagetest.NewDB(t), false)
	ctx := context.Background()
	paid := create(t, f.sim, 1000, "paid")
	if _, err := f.sim.Confirm(ctx, paid.ID, paid.ClientSecret, local.CardSucceeds); err != nil {
		t.Fatal(err)
	}
	canceled := create(t, f.sim, 1000, "canceled")
	if _, err := f.sim.CancelIntent(ctx, canceled.ID); err != nil {
		t.Fatal(err)
	}
	open := create(t, f.sim, 1000, "open")
	cases := []struct {
		name         string
		id, secret   string
		want         error
		wantUnchaged bool
	}{
		{"wrong secret", open.ID, paid.ClientSecret, payment.ErrIntentNotFound, true},
		{"empty secret", open.ID, "", payment.ErrIntentNotFound, true},
		{"unknown intent", "pi_local_01ARZ3NDEKTSV4RRFFQ69G5FAV", open.ClientSecret, payment.ErrIntentNotFound, false},
		{"garbage id", "../../etc", open.ClientSecret, payment.ErrIntentNotFound, false},
		{"already paid", paid.ID, paid.ClientSecret, payment.ErrUnexpectedState, false},
		{"cancelled", canceled.ID, canceled.ClientSecret, payment.ErrUnexpectedState, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := f.sim.Confirm(ctx, c.id, c.secret, local.CardSucceeds); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	if got, _ := f.sim.GetIntent(ctx, open.ID); got.Status != payment.IntentRequiresPaymentMethod {
		t.Errorf("a refused confirm changed the intent: %q", got.Status)
	}
}

func TestDeclineThenPay(t *testing.T) {
	f := newSim(t, storagetest.NewDB(t), false)
	ctx := context.Background()
	it := create(t, f.sim, 2500, "retry-card")
	if _, err := f.sim.Confirm(ctx, it.ID, it.ClientSecret, local.CardDeclined); !errors.Is(err, payment.ErrDeclined) {
		t.Fatalf("first card: %v, want declined", err)
	}
	st, err := f.sim.Confirm(ctx, it.ID, it.ClientSecret, local.CardSucceeds)
	if err != nil || st != payment.IntentSucceeded {
		t.Fatalf("second card: %q, %v", st, err)
	}
	got, _ := f.sim.GetIntent(ctx, it.ID)
	if got.FailureCode != "" || got.FailureReason != "" {
		t.Errorf("the success kept the old failure: %+v", got)
	}
	var types []payment.EventType
	for _, ev := range f.ep.received() {
		types = append(types, ev.Type)
	}
	if len(types) != 2 || types[0] != payment.EventIntentFailed || types[1] != payment.EventIntentSucceeded {
		t.Errorf("webhooks %v, want failed then succeeded", types)
	}
}

// TestDeliveryRetries makes the endpoint fail: Confirm still answers, and Run
// delivers the same event later, signed afresh each time.
func TestDeliveryRetries(t *testing.T) {
	f := newSim(t, storagetest.NewDB(t), false)
	ctx := context.Background()
	const failures = 3
	f.ep.setFail(failures)
	it := create(t, f.sim, 1999, "retries")
	st, err := f.sim.Confirm(ctx, it.ID, it.ClientSecret, local.CardSucceeds)
	if err != nil || st != payment.IntentSucceeded {
		t.Fatalf("Confirm with a failing endpoint = %q, %v; want succeeded", st, err)
	}
	if n := len(f.ep.received()); n != 0 {
		t.Fatalf("%d events accepted by a failing endpoint", n)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.sim.Run(runCtx) }()
	ev := f.ep.waitFor(t, "retried succeeded", func(ev payment.WebhookEvent) bool { return ev.IntentID == it.ID })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ev.Type != payment.EventIntentSucceeded {
		t.Errorf("event %+v", ev)
	}
	f.ep.mu.Lock()
	attempts := f.ep.attempts[ev.ID]
	f.ep.mu.Unlock()
	if attempts != failures+1 {
		t.Errorf("endpoint saw %d attempts of %s, want %d", attempts, ev.ID, failures+1)
	}
	rec, err := f.store.Event(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.DeliveredAt.IsZero() || rec.Attempts != failures+1 || rec.LastError != "" {
		t.Errorf("stored event: delivered %v, attempts %d, last error %q", rec.DeliveredAt, rec.Attempts, rec.LastError)
	}
	if n, err := f.sim.DeliverPending(ctx); err != nil || n != 0 {
		t.Errorf("DeliverPending after delivery = %d, %v; want nothing left", n, err)
	}
}

// TestBackgroundWebhooks checks the webhooks Run delivers: cancellation,
// refunds (refund.created and charge.refunded) and transfers.
func TestBackgroundWebhooks(t *testing.T) {
	f := newSim(t, storagetest.NewDB(t), true)
	ctx := context.Background()

	abandoned := create(t, f.sim, 800, "abandoned")
	if _, err := f.sim.CancelIntent(ctx, abandoned.ID); err != nil {
		t.Fatal(err)
	}
	f.ep.waitFor(t, "canceled", func(ev payment.WebhookEvent) bool {
		return ev.Type == payment.EventIntentCanceled && ev.IntentID == abandoned.ID && ev.Metadata["order_id"] == "ord_abandoned"
	})

	paid := create(t, f.sim, 3000, "refunded")
	if _, err := f.sim.Confirm(ctx, paid.ID, paid.ClientSecret, local.CardSucceeds); err != nil {
		t.Fatal(err)
	}
	r1, err := f.sim.Refund(ctx, payment.RefundRequest{IntentID: paid.ID, Amount: eur(1000), IdempotencyKey: "r1", Metadata: map[string]string{"order_id": "ord_refunded"}})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := f.sim.Refund(ctx, payment.RefundRequest{IntentID: paid.ID, IdempotencyKey: "r2"})
	if err != nil || r2.Amount != eur(2000) {
		t.Fatalf("refund the rest: %+v, %v", r2, err)
	}
	got := f.ep.waitFor(t, "refund r1", func(ev payment.WebhookEvent) bool {
		return ev.Type == payment.EventRefundSucceeded && ev.RefundID == r1.ID
	})
	if got.IntentID != paid.ID || got.Amount != eur(1000) || got.Metadata["order_id"] != "ord_refunded" {
		t.Errorf("refund webhook %+v", got)
	}
	f.ep.waitFor(t, "refund r2", func(ev payment.WebhookEvent) bool {
		return ev.Type == payment.EventRefundSucceeded && ev.RefundID == r2.ID && ev.Amount == eur(2000)
	})
	f.ep.waitFor(t, "partial charge.refunded", func(ev payment.WebhookEvent) bool {
		return ev.Type == payment.EventChargeRefunded && ev.IntentID == paid.ID && ev.Amount == eur(1000) && ev.Status == "partially_refunded"
	})
	f.ep.waitFor(t, "full charge.refunded", func(ev payment.WebhookEvent) bool {
		return ev.Type == payment.EventChargeRefunded && ev.IntentID == paid.ID && ev.Amount == eur(3000) && ev.Status == "refunded"
	})

	tr, err := f.sim.Transfer(ctx, payment.TransferRequest{Destination: "acct_local_kol", Amount: money.Money{Amount: 5000, Currency: "JPY"}, IdempotencyKey: "po_1", Metadata: map[string]string{"payout_id": "po_1"}})
	if err != nil {
		t.Fatal(err)
	}
	f.ep.waitFor(t, "transfer.created", func(ev payment.WebhookEvent) bool {
		return ev.Type == payment.EventTransferCreated && ev.TransferID == tr.ID && ev.Amount == tr.Amount && ev.Metadata["payout_id"] == "po_1"
	})
	// A replayed transfer queues no second webhook.
	if again, err := f.sim.Transfer(ctx, payment.TransferRequest{Destination: "acct_local_kol", Amount: money.Money{Amount: 5000, Currency: "JPY"}, IdempotencyKey: "po_1", Metadata: map[string]string{"payout_id": "po_1"}}); err != nil || again.ID != tr.ID {
		t.Fatalf("replayed transfer: %+v, %v", again, err)
	}
	var n int
	var count int64
	if err := f.db.Raw("SELECT count(*) FROM payments_local_events WHERE type = 'transfer.created'").Scan(&count).Error; err != nil {
		t.Fatal(err)
	}
	n = int(count)
	if n != 1 {
		t.Errorf("%d transfer.created events queued, want 1", n)
	}
	if _, err := f.sim.Transfer(ctx, payment.TransferRequest{Destination: "not_an_account", Amount: eur(1)}); !errors.As(err, new(*errs.ValidationError)) {
		t.Errorf("transfer to a non-account: %v, want a validation error", err)
	}
}

// TestNodesAndRestartsShareState runs two simulators on separate connection
// pools of one database, as two nodes do, then a third as a restarted node.
func TestNodesAndRestartsShareState(t *testing.T) {
	dsn := storagetest.NewDSN(t)
	open := func() *gorm.DB {
		db, err := storage.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { storage.Close(db) })
		return db
	}
	ctx := context.Background()
	a, b := newSim(t, open(), false), newSim(t, open(), false)

	it := create(t, a.sim, 1234, "two-nodes")
	if again := create(t, b.sim, 1234, "two-nodes"); again.ID != it.ID {
		t.Fatalf("node b made %s for the key node a used for %s", again.ID, it.ID)
	}
	b.ep.setFail(1) // node b's delivery fails; the event stays queued
	if st, err := b.sim.Confirm(ctx, it.ID, it.ClientSecret, local.CardSucceeds); err != nil || st != payment.IntentSucceeded {
		t.Fatalf("confirm on node b: %q, %v", st, err)
	}
	if got, err := a.sim.GetIntent(ctx, it.ID); err != nil || got.Status != payment.IntentSucceeded {
		t.Fatalf("node a sees %q, %v; want succeeded", got.Status, err)
	}

	// Node b is gone; a restarted node delivers what b could not.
	restarted := newSim(t, open(), true)
	ev := restarted.ep.waitFor(t, "succeeded after restart", func(ev payment.WebhookEvent) bool { return ev.IntentID == it.ID })
	if ev.Type != payment.EventIntentSucceeded {
		t.Errorf("event %+v", ev)
	}
	if _, err := restarted.sim.Refund(ctx, payment.RefundRequest{IntentID: it.ID, IdempotencyKey: "after-restart"}); err != nil {
		t.Errorf("refund on the restarted node: %v", err)
	}
}

func TestConcurrentConfirmsPayOnce(t *testing.T) {
	f := newSim(t, storagetest.NewDB(t), false)
	it := create(t, f.sim, 999, "race")
	const n = 8
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = f.sim.Confirm(context.Background(), it.ID, it.ClientSecret, local.CardSucceeds)
		}()
	}
	wg.Wait()
	var ok, state int
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, payment.ErrUnexpectedState):
			state++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || state != n-1 {
		t.Errorf("%d confirms succeeded and %d were refused, want 1 and %d", ok, state, n-1)
	}
	if got := len(f.ep.received()); got != 1 {
		t.Errorf("%d webhooks, want 1", got)
	}
}

func TestConcurrentRefundsNeverExceedThePayment(t *testing.T) {
	f := newSim(t, storagetest.NewDB(t), false)
	ctx := context.Background()
	it := create(t, f.sim, 1999, "refund-race")
	if _, err := f.sim.Confirm(ctx, it.ID, it.ClientSecret, local.CardSucceeds); err != nil {
		t.Fatal(err)
	}
	const n = 10 // 10 × 300 asked of 1999: 6 fit
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = f.sim.Refund(ctx, payment.RefundRequest{IntentID: it.ID, Amount: eur(300), IdempotencyKey: fmt.Sprintf("race-%d", i)})
		}()
	}
	wg.Wait()
	var ok, tooLarge int
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, payment.ErrRefundTooLarge):
			tooLarge++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 6 || tooLarge != 4 {
		t.Errorf("%d refunds made and %d refused, want 6 and 4", ok, tooLarge)
	}
	refunds, err := f.store.Refunds(ctx, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, r := range refunds {
		sum += r.Amount
	}
	if sum != 1800 {
		t.Errorf("refunded %d minor units, want 1800", sum)
	}
}

// TestIgnoresCallerTransaction: like Stripe, the simulator's effects stay
// when the caller's transaction rolls back.
func TestIgnoresCallerTransaction(t *testing.T) {
	f := newSim(t, storagetest.NewDB(t), false)
	ctx := context.Background()
	it := create(t, f.sim, 500, "outside")
	if _, err := f.sim.Confirm(ctx, it.ID, it.ClientSecret, local.CardSucceeds); err != nil {
		t.Fatal(err)
	}
	var refund payment.Refund
	rollback := errors.New("rollback")
	err := storage.NewTransactor(f.db).InTx(ctx, func(ctx context.Context) error {
		var err error
		if refund, err = f.sim.Refund(ctx, payment.RefundRequest{IntentID: it.ID, IdempotencyKey: "in-tx"}); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("InTx: %v", err)
	}
	refunds, err := f.store.Refunds(ctx, it.ID)
	if err != nil || len(refunds) != 1 || refunds[0].ID != refund.ID {
		t.Fatalf("after the caller's rollback: %+v, %v; want refund %s kept", refunds, err, refund.ID)
	}
}

// The simulator speaks Stripe's units as Stripe does: an ISK payment of
// 1,500 kr goes out as 150000 and reads back as 1,500 kr; an amount Stripe
// cannot take (a fraction of an ariary, a KWD amount not ending in 0) is
// refused before anything is kept.
func TestAmountsInStripeUnits(t *testing.T) {
	f := newSim(t, storagetest.NewDB(t), false)
	ctx := context.Background()
	var raw []byte
	sim, err := local.New(f.store, local.Config{WebhookSecret: secret, Deliver: func(ctx context.Context, payload []byte, header string) error {
		raw = append([]byte(nil), payload...)
		return f.ep.deliver(ctx, payload, header)
	}})
	if err != nil {
		t.Fatal(err)
	}
	isk := money.Money{Amount: 1500, Currency: "ISK"}
	it, err := sim.CreateIntent(ctx, payment.IntentRequest{Amount: isk, IdempotencyKey: "isk-1", Metadata: map[string]string{"order_id": "ord_isk"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Confirm(ctx, it.ID, it.ClientSecret, local.CardSucceeds); err != nil {
		t.Fatal(err)
	}
	var wireEvent struct {
		Data struct {
			Object struct {
				Amount   int64  `json:"amount"`
				Currency string `json:"currency"`
			} `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &wireEvent); err != nil {
		t.Fatal(err)
	}
	if o := wireEvent.Data.Object; o.Amount != 150000 || o.Currency != "isk" {
		t.Fatalf("the webhook carries %d %s, want Stripe's 150000 isk", o.Amount, o.Currency)
	}
	ev := f.ep.waitFor(t, "ISK success", func(ev payment.WebhookEvent) bool { return ev.IntentID == it.ID })
	if ev.Amount != isk {
		t.Fatalf("the webhook reads back as %v, want %v", ev.Amount, isk)
	}

	for _, m := range []money.Money{{Amount: 150, Currency: "MGA"}, {Amount: 1255, Currency: "KWD"}} {
		_, err := sim.CreateIntent(ctx, payment.IntentRequest{Amount: m, IdempotencyKey: "odd-" + m.Currency})
		var ve *errs.ValidationError
		if !errors.As(err, &ve) || ve.Fields[0].Field != "amount" {
			t.Errorf("an intent of %v: %v, want a validation error on amount", m, err)
		}
	}
	var kept int64
	if err := f.db.Raw("SELECT count(*) FROM payments_local_intents WHERE currency IN ('MGA', 'KWD')").Scan(&kept).Error; err != nil || kept != 0 {
		t.Fatalf("%d refused intents kept (%v)", kept, err)
	}
}
