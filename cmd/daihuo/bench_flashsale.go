package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// flashOptions are the knobs of `daihuo bench flashsale`.
type flashOptions struct {
	buyers   int
	quantity int
	retry    float64
	conns    int
}

// flashResult is what one run of the flash-sale benchmark measured.
type flashResult struct {
	mode                   string
	sold, soldOut          int
	other                  int
	wall                   time.Duration
	ordersPerSec           float64
	requestsPerSec         float64
	p50, p99               time.Duration
	soldOutP50, soldOutP99 time.Duration
	replays                int
}

// benchFlashSale sends many concurrent buyers at one flash pin through the
// real HTTP API (auth, idempotency keys, server prices, the local payment
// simulator), with a share of requests retried under the same key, once on
// the hot-row batcher and once on the naive one-transaction-per-order
// reserver. It fails on any oversell or duplicate order.
func benchFlashSale(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("daihuo bench flashsale", flag.ContinueOnError)
	var o flashOptions
	fs.IntVar(&o.buyers, "buyers", 5_000, "concurrent buyers, each with a shopper token of its own")
	fs.IntVar(&o.quantity, "quantity", 1_000, "units of the flash sale")
	fs.Float64Var(&o.retry, "retry", 0.2, "share of requests sent again with the same Idempotency-Key")
	fs.IntVar(&o.conns, "conns", 512, "HTTP connections the buyers share")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := raiseFileLimit(uint64(o.conns)*2 + 4096); err != nil {
		return err
	}
	var results []flashResult
	for _, mode := range []string{"batch", "naive"} {
		r, err := runFlashSale(ctx, mode, o, stdout)
		if err != nil {
			return fmt.Errorf("%s run: %w", mode, err)
		}
		results = append(results, r)
	}
	fmt.Fprintf(stdout, "\nflash sale: %d buyers, %d units, %.0f%% retried with the same key, through HTTP with auth\n", o.buyers, o.quantity, o.retry*100)
	fmt.Fprintf(stdout, "%-6s %6s %8s %10s %10s %10s %10s %12s %12s %8s\n", "mode", "sold", "sold out", "orders/s", "requests/s", "p50", "p99", "sold-out p50", "sold-out p99", "replays")
	for _, r := range results {
		fmt.Fprintf(stdout, "%-6s %6d %8d %10.0f %10.0f %10s %10s %12s %12s %8d\n", r.mode, r.sold, r.soldOut, r.ordersPerSec, r.requestsPerSec,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.soldOutP50.Round(10*time.Microsecond), r.soldOutP99.Round(10*time.Microsecond), r.replays)
	}
	b, n := results[0], results[1]
	fmt.Fprintf(stdout, "batch vs naive: %.1fx the orders/s, p99 %.1fx lower\n", b.ordersPerSec/max(n.ordersPerSec, 1), float64(n.p99)/float64(max(b.p99, 1)))
	return nil
}

type orderAnswer struct {
	status  int
	id      string
	replay  bool
	latency time.Duration
}

func runFlashSale(ctx context.Context, mode string, o flashOptions, stdout io.Writer) (flashResult, error) {
	res := flashResult{mode: mode}
	srv, err := startBenchServer(ctx, map[string]string{"DAIHUO_RESERVE": mode})
	if err != nil {
		return res, err
	}
	defer srv.stop()
	w, err := newBenchWorld(ctx, srv)
	if err != nil {
		return res, err
	}
	streamID, products, err := w.liveStream(ctx, 1)
	if err != nil {
		return res, err
	}
	var prod struct {
		Variants []struct{ ID string } `json:"variants"`
	}
	if err := w.call(ctx, "", "GET", "/v1/products/"+products[0], nil, &prod); err != nil {
		return res, err
	}
	var pin struct{ ID string }
	flash := map[string]any{"price": map[string]any{"amount": 999, "currency": "EUR"}, "quantity": o.quantity,
		"ends_at": time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339)}
	if err := w.call(ctx, w.brand, "POST", "/v1/streams/"+streamID+"/pins", map[string]any{"product_id": products[0], "flash": flash}, &pin); err != nil {
		return res, err
	}

	// One shopper, and so one token, per buyer.
	tokens := make([]string, o.buyers)
	var wg sync.WaitGroup
	var signupErr atomic.Value
	sem := make(chan struct{}, 32)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var sh struct{ Token string }
			if err := w.call(ctx, "", "POST", "/v1/shoppers", map[string]any{"display_name": fmt.Sprintf("Buyer %d", i)}, &sh); err != nil {
				signupErr.Store(err)
			}
			tokens[i] = sh.Token
		}()
	}
	wg.Wait()
	if err, ok := signupErr.Load().(error); ok {
		return res, fmt.Errorf("sign up buyers: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %d buyers signed up; selling %d units\n", mode, o.buyers, o.quantity)

	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxConnsPerHost: o.conns, MaxIdleConnsPerHost: o.conns}}
	body, _ := json.Marshal(map[string]any{
		"stream_id": streamID, "pin_id": pin.ID,
		"items":    []map[string]any{{"variant_id": prod.Variants[0].ID, "quantity": 1}},
		"shipping": map[string]any{"name": "Buyer", "line1": "1 Main St", "city": "Lyon", "postal_code": "69001", "country": "FR"},
	})
	order := func(token, key string) orderAnswer {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.url+"/v1/orders", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return orderAnswer{status: -1, latency: time.Since(t0)}
		}
		defer resp.Body.Close()
		var out struct {
			ID   string `json:"id"`
			Code string `json:"code"`
		}
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &out)
		a := orderAnswer{status: resp.StatusCode, id: out.ID, replay: resp.Header.Get("Idempotent-Replayed") == "true", latency: time.Since(t0)}
		if resp.StatusCode == http.StatusConflict && out.Code != "sold_out" {
			a.status = -2 // a conflict that is not sold out
		}
		return a
	}

	first := make([]orderAnswer, o.buyers)
	second := make([]*orderAnswer, o.buyers)
	retries := int(float64(o.buyers) * o.retry)
	start := make(chan struct{})
	for i := range o.buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			key := fmt.Sprintf("bench-%d", i)
			first[i] = order(tokens[i], key)
			if i < retries { // the client did not trust the first answer and asks again
				a := order(tokens[i], key)
				second[i] = &a
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	res.wall = time.Since(t0)

	var lat, soldOutLat []time.Duration
	ids := map[string]bool{}
	for i, a := range first {
		switch a.status {
		case http.StatusCreated:
			res.sold++
			lat = append(lat, a.latency)
			if ids[a.id] {
				return res, fmt.Errorf("DUPLICATE: order %s answered to two buyers", a.id)
			}
			ids[a.id] = true
		case http.StatusConflict:
			res.soldOut++
			soldOutLat = append(soldOutLat, a.latency)
		default:
			res.other++
		}
		if r := second[i]; r != nil {
			if r.status != a.status || r.id != a.id {
				return res, fmt.Errorf("DUPLICATE: buyer %d retried its key and got %d %s after %d %s", i, r.status, r.id, a.status, a.id)
			}
			if r.replay {
				res.replays++
			}
		}
	}
	if res.sold > o.quantity {
		return res, fmt.Errorf("OVERSOLD: %d orders for %d units", res.sold, o.quantity)
	}
	var st struct {
		Pins []struct {
			ID    string
			Flash *struct{ Remaining int } `json:"flash"`
		} `json:"pins"`
	}
	if err := w.call(ctx, "", "GET", "/v1/streams/"+streamID, nil, &st); err != nil {
		return res, err
	}
	remaining := -1
	for _, p := range st.Pins {
		if p.ID == pin.ID && p.Flash != nil {
			remaining = p.Flash.Remaining
		}
	}
	if remaining < 0 || remaining+res.sold != o.quantity {
		return res, fmt.Errorf("UNITS DO NOT ADD UP: %d sold + %d remaining != %d", res.sold, remaining, o.quantity)
	}
	if res.other > 0 {
		return res, fmt.Errorf("%d requests failed with neither 201 nor 409 sold_out", res.other)
	}
	if len(lat) == 0 {
		return res, errors.New("nothing sold")
	}
	slices.Sort(lat)
	slices.Sort(soldOutLat)
	res.p50, res.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	if len(soldOutLat) > 0 {
		res.soldOutP50, res.soldOutP99 = soldOutLat[len(soldOutLat)/2], soldOutLat[len(soldOutLat)*99/100]
	}
	// Orders per second over the selling phase: until the last unit went.
	res.ordersPerSec = float64(res.sold) / lat[len(lat)-1].Seconds()
	res.requestsPerSec = float64(o.buyers+retries) / res.wall.Seconds()
	return res, nil
}
