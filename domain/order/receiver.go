package order

import (
	"context"
	"errors"
	"log/slog"

	"github.com/daihuo/daihuo/domain/payment"
)

// WebhookParser verifies a provider's webhook and turns it into an event.
type WebhookParser interface {
	ParseWebhook(payload []byte, signatureHeader string) (payment.WebhookEvent, error)
}

// Receiver is the one path every payment webhook takes, whether Stripe posts
// it to the api or the local simulator delivers it: verify, then apply.
type Receiver struct {
	parser WebhookParser
	orders *Service
	log    *slog.Logger
}

// NewReceiver returns a Receiver applying parser's events to orders.
func NewReceiver(parser WebhookParser, orders *Service, log *slog.Logger) *Receiver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{parser: parser, orders: orders, log: log}
}

// Receive verifies and applies one webhook. A bad signature fails with an
// error wrapping payment.ErrInvalidWebhook (answer 400, change nothing); an
// event about an intent no order has is logged and acknowledged (nil), as
// the provider would otherwise retry it for days.
func (r *Receiver) Receive(ctx context.Context, payload []byte, signatureHeader string) error {
	ev, err := r.parser.ParseWebhook(payload, signatureHeader)
	if err != nil {
		return err
	}
	err = r.orders.ApplyPaymentEvent(ctx, ev)
	if errors.Is(err, ErrUnknownIntent) {
		r.log.WarnContext(ctx, "webhook for an unknown payment intent acknowledged",
			"provider", ev.Provider, "event_id", ev.ID, "type", ev.ProviderType, "intent_id", ev.IntentID)
		return nil
	}
	return err
}
