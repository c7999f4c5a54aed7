package main

import (
	"context"
	"crypto/rand"
	"log/slog"

	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/payments/stripe"
	"github.com/daihuo/daihuo/storage"
)

// gateway is the payment provider of the process and, for the local
// simulator, the simulator itself (which the api's confirm route needs).
type gateway struct {
	payment.Gateway
	sim *local.Simulator // nil with Stripe
}

// newGateway returns Stripe when STRIPE_SECRET_KEY is set (loadConfig
// makes sure STRIPE_WEBHOOK_SECRET is too), else the local simulator, which
// delivers its signed webhooks to deliver, the same path Stripe's webhooks
// take through the api.
func newGateway(c config, db *database, deliver local.DeliverFunc, log *slog.Logger) (*gateway, error) {
	if c.StripeSecretKey != "" {
		gw, err := stripe.New(stripe.Config{
			SecretKey: string(c.StripeSecretKey), WebhookSecret: string(c.StripeWebhookSecret), Logger: log,
			// Cards only: an order holds its stock for minutes, and methods
			// that settle in days (bank debits, vouchers) would outlive it.
			PaymentMethodTypes: stripe.DefaultPaymentMethodTypes(),
		})
		if err != nil {
			return nil, err
		}
		return &gateway{Gateway: gw}, nil
	}
	// Each process signs and verifies its own deliveries, so a secret of its
	// own is enough and nothing needs configuring.
	sim, err := local.New(storage.NewPaymentsLocalStore(db.db), local.Config{
		WebhookSecret: "whsec_local_" + rand.Text(),
		Deliver:       deliver,
		Logger:        log.With("component", "local-payments"),
	})
	if err != nil {
		return nil, err
	}
	return &gateway{Gateway: sim, sim: sim}, nil
}

// run delivers the simulator's pending webhooks until ctx ends.
func (g *gateway) run(ctx context.Context) error {
	if g.sim == nil {
		return nil
	}
	return g.sim.Run(ctx)
}
