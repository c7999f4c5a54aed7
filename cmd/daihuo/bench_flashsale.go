package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
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
	cpu                    string // where the CPU went, per request
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
	modes := fs.String("modes", "batch,naive", "reservers to run, comma-separated: batch, naive (both to compare them)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	runs, err := benchModes(*modes)
	if err != nil {
		return err
	}
	if err := raiseFileLimit(uint64(o.conns)*2 + 4096); err != nil {
		return err
	}
	var results []flashResult
	for _, mode := range runs {
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
	for _, r := range results {
		fmt.Fprintf(stdout, "%-6s %s\n", r.mode, r.cpu)
	}
	if len(results) < 2 {
		return nil
	}
	b, n := results[0], results[1]
	fmt.Fprintf(stdout, "batch vs naive: %.1fx the orders/s, p99 %.1fx lower\n", b.ordersPerSec/max(n.ordersPerSec, 1), float64(n.p99)/float64(max(b.p99, 1)))
	return nil
}

// benchModes reads --modes: batch and naive, each at most once, batch first.
func benchModes(list string) ([]string, error) {
	var runs []string
	for _, mode := range []string{"batch", "naive"} {
		if slices.Contains(strings.Split(list, ","), mode) {
			runs = append(runs, mode)
		}
	}
	for m := range strings.SplitSeq(list, ",") {
		if m != "batch" && m != "naive" {
			return nil, fmt.Errorf("--modes: unknown reserver %q (want batch, naive)", m)
		}
	}
	return runs, nil
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

	body, _ := json.Marshal(map[string]any{
		"stream_id": streamID, "pin_id": pin.ID,
		"items":    []map[string]any{{"variant_id": prod.Variants[0].ID, "quantity": 1}},
		"shipping": map[string]any{"name": "Buyer", "line1": "1 Main St", "city": "Lyon", "postal_code": "69001", "country": "FR"},
	})
	pool, err := newRawPool(srv.url, o.conns)
	if err != nil {
		return res, err
	}
	defer pool.close()
	// Connections are open before the sale starts, as a load generator's
	// are (and a watching crowd's keep-alive connections would be): the
	// sale measures orders, not TCP handshakes.
	if err := pool.warm(); err != nil {
		return res, err
	}
	// The buyers share o.conns keep-alive connections, as a browser crowd
	// behind a few proxies would; a buyer's latency runs from its tap,
	// including any wait for a free connection.
	order := func(token, key string) orderAnswer {
		t0 := time.Now()
		a, err := pool.post(ctx, "/v1/orders", token, key, body)
		a.latency = time.Since(t0)
		if err != nil {
			a.status = -1
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
	before := sampleCPU(srv)
	t0 := time.Now()
	close(start)
	wg.Wait()
	res.wall = time.Since(t0)
	res.cpu = before.per(sampleCPU(srv), o.buyers+retries, "request")

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

// rawPool is the flash-sale bench's HTTP/1.1 client: a fixed set of
// keep-alive connections and hand-written requests. It is a load generator
// sharing two cores with the server, so it spends as little CPU per request
// as it can (net/http's client cost about twice as much); what it checks of
// each answer is the status, the order id, the problem code and the
// Idempotent-Replayed header.
type rawPool struct {
	addr    string
	conns   chan *rawConn // idle connections
	dialled atomic.Int64  // connections open, idle or busy
}

type rawConn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

func newRawPool(baseURL string, n int) (*rawPool, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	return &rawPool{addr: u.Host, conns: make(chan *rawConn, n)}, nil
}

// post sends one order and reads its answer, dialling when fewer than the
// pool's connections exist and waiting for a free one otherwise.
func (p *rawPool) post(ctx context.Context, path, token, key string, body []byte) (orderAnswer, error) {
	var rc *rawConn
	select {
	case rc = <-p.conns:
	default:
		select {
		case rc = <-p.conns:
		case <-ctx.Done():
			return orderAnswer{}, ctx.Err()
		default:
			if p.dialled.Add(1) <= int64(cap(p.conns)) {
				c, err := net.Dial("tcp", p.addr)
				if err != nil {
					p.dialled.Add(-1)
					return orderAnswer{}, err
				}
				rc = &rawConn{c: c, r: bufio.NewReaderSize(c, 16<<10)}
			} else {
				p.dialled.Add(-1)
				select {
				case rc = <-p.conns:
				case <-ctx.Done():
					return orderAnswer{}, ctx.Err()
				}
			}
		}
	}
	a, err := rc.roundTrip(p.addr, path, token, key, body)
	if err != nil {
		rc.c.Close()
		p.dialled.Add(-1)
		return a, err
	}
	p.conns <- rc
	return a, nil
}

func (rc *rawConn) roundTrip(host, path, token, key string, body []byte) (orderAnswer, error) {
	b := rc.buf[:0]
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	b = append(b, token...)
	b = append(b, "\r\nIdempotency-Key: "...)
	b = append(b, key...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	rc.buf = b
	_ = rc.c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := rc.c.Write(b); err != nil {
		return orderAnswer{}, err
	}
	var a orderAnswer
	line, err := rc.r.ReadSlice('\n')
	if err != nil {
		return a, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return a, fmt.Errorf("bad status line %q", line)
	}
	if a.status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return a, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		line, err := rc.r.ReadSlice('\n')
		if err != nil {
			return a, err
		}
		h := bytes.TrimRight(line, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return a, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte(replayedHeaderName)):
			a.replay = string(value) == "true"
		}
	}
	if length < 0 {
		return a, errors.New("answer without Content-Length")
	}
	resp := make([]byte, length)
	if _, err := io.ReadFull(rc.r, resp); err != nil {
		return a, err
	}
	a.id = jsonField(resp, "id")
	if a.status == http.StatusConflict && jsonField(resp, "code") != "sold_out" {
		a.status = -2 // a conflict that is not sold out
	}
	return a, nil
}

// replayedHeaderName is the header the api marks replayed answers with.
const replayedHeaderName = "Idempotent-Replayed"

// jsonField returns the string value of the first "name" key in a JSON
// document, or "": an order's own id comes first in its body, and a
// problem has one code.
func jsonField(doc []byte, name string) string {
	return string(jsonStringBytes(doc, []byte(`"`+name+`":"`)))
}

// warm opens every connection of the pool.
func (p *rawPool) warm() error {
	for p.dialled.Load() < int64(cap(p.conns)) {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			return err
		}
		p.dialled.Add(1)
		p.conns <- &rawConn{c: c, r: bufio.NewReaderSize(c, 16<<10)}
	}
	return nil
}

// close closes the idle connections.
func (p *rawPool) close() {
	for {
		select {
		case rc := <-p.conns:
			rc.c.Close()
		default:
			return
		}
	}
}
