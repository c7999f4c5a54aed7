package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

// fanoutOptions are the knobs of `daihuo bench fanout`.
type fanoutOptions struct {
	viewers int
	pins    int
	gap     time.Duration
	sources int
}

// fanoutResult is what one run of the fan-out benchmark measured.
type fanoutResult struct {
	mode          string
	viewers       int
	pins          int
	p50, p99, max time.Duration
	perSecond     float64
	bytesPerConn  float64
	missing       int
	cpu           string // where the CPU went, per delivery
}

// benchFanout connects many SSE viewers to a real `daihuo serve` (private
// Postgres, embedded broker, outbox relay, live feed), pins products through
// the API and measures pin-to-screen latency, first with the hub, then with
// the naive fan-out as the baseline.
func benchFanout(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("daihuo bench fanout", flag.ContinueOnError)
	var o fanoutOptions
	fs.IntVar(&o.viewers, "viewers", 10_000, "SSE viewers to connect")
	fs.IntVar(&o.pins, "pins", 20, "pins to make, one after another")
	fs.DurationVar(&o.gap, "gap", 300*time.Millisecond, "pause between pins")
	fs.IntVar(&o.sources, "sources", 0, "127.0.0.x source addresses to dial from (0: enough for the viewers)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the viewers (this process) during the hub run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.sources == 0 {
		o.sources = 1 + o.viewers/20_000
	}
	// The viewers and the server are separate processes: each needs one
	// descriptor per viewer and some slack.
	if err := raiseFileLimit(uint64(o.viewers) + 4096); err != nil {
		return err
	}
	var results []fanoutResult
	for _, mode := range []string{"hub", "naive"} {
		if *cpuProfile != "" && mode == "hub" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
		}
		r, err := runFanout(ctx, mode, o, stdout)
		if *cpuProfile != "" && mode == "hub" {
			pprof.StopCPUProfile()
		}
		if err != nil {
			return fmt.Errorf("%s run: %w", mode, err)
		}
		results = append(results, r)
	}
	fmt.Fprintf(stdout, "\nfan-out: %d viewers, %d pins, pin → screen through API, outbox, Kafka and the live hub\n", o.viewers, o.pins)
	fmt.Fprintf(stdout, "%-6s %10s %10s %10s %14s %14s %8s\n", "mode", "p50", "p99", "max", "events/s", "server B/conn", "missing")
	for _, r := range results {
		fmt.Fprintf(stdout, "%-6s %10s %10s %10s %14.0f %14.0f %8d\n", r.mode, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond),
			r.max.Round(10*time.Microsecond), r.perSecond, r.bytesPerConn, r.missing)
	}
	hub, naive := results[0], results[1]
	for _, r := range results {
		fmt.Fprintf(stdout, "%-6s %s\n", r.mode, r.cpu)
	}
	fmt.Fprintf(stdout, "hub vs naive: p99 %.1fx lower, %.1fx the events/s\n", float64(naive.p99)/float64(max(hub.p99, 1)), hub.perSecond/max(naive.perSecond, 1))
	if hub.missing > 0 {
		return fmt.Errorf("hub: %d pin events never reached their viewer", hub.missing)
	}
	return nil
}

// arrival is one pin event read by one viewer, timestamped when the read
// that completed it returned.
type arrival struct {
	pin string
	at  time.Time
}

func runFanout(ctx context.Context, mode string, o fanoutOptions, stdout io.Writer) (fanoutResult, error) {
	res := fanoutResult{mode: mode, viewers: o.viewers, pins: o.pins}
	srv, err := startBenchServer(ctx, map[string]string{"DAIHUO_FANOUT": mode})
	if err != nil {
		return res, err
	}
	defer srv.stop()
	w, err := newBenchWorld(ctx, srv)
	if err != nil {
		return res, err
	}
	streamID, productIDs, err := w.liveStream(ctx, 1)
	if err != nil {
		return res, err
	}
	rssBefore := srv.rss()

	// Connect the viewers: raw sockets read by an epoll loop (Linux).
	host := strings.TrimPrefix(srv.url, "http://")
	request := []byte("GET /v1/streams/" + streamID + "/events HTTP/1.1\r\nHost: " + host + "\r\nAccept: text/event-stream\r\n\r\n")
	viewers, err := connectViewers(ctx, host, request, o.viewers, o.sources, o.pins)
	if err != nil {
		return res, err
	}
	defer viewers.close()
	time.Sleep(500 * time.Millisecond) // let the server settle before measuring memory
	rssAfter := srv.rss()
	res.bytesPerConn = float64(rssAfter-rssBefore) / float64(o.viewers)
	fmt.Fprintf(stdout, "%s: %d viewers connected; server RSS %d MiB → %d MiB\n", mode, o.viewers, rssBefore>>20, rssAfter>>20)

	// Pin, one after another.
	before := sampleCPU(srv)
	sent := map[string]time.Time{}
	for i := range o.pins {
		t0 := time.Now()
		pinID, err := w.pin(ctx, streamID, productIDs[0])
		if err != nil {
			return res, fmt.Errorf("pin %d: %w", i, err)
		}
		sent[pinID] = t0
		time.Sleep(o.gap)
	}
	// Wait until every viewer has every pin, or give up after 10 s.
	deadline := time.Now().Add(10 * time.Second)
	for viewers.complete() < o.viewers && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	arrivals := viewers.stop()
	after := sampleCPU(srv)

	var lat []time.Duration
	lastOf := map[string]time.Time{} // per pin: when its last viewer got it
	for i := range arrivals {
		got := map[string]bool{}
		for _, a := range arrivals[i] {
			t0, ok := sent[a.pin]
			if !ok || got[a.pin] {
				continue
			}
			got[a.pin] = true
			lat = append(lat, a.at.Sub(t0))
			if a.at.After(lastOf[a.pin]) {
				lastOf[a.pin] = a.at
			}
		}
		res.missing += o.pins - len(got)
	}
	if len(lat) == 0 {
		return res, errors.New("no pin reached any viewer")
	}
	slices.Sort(lat)
	res.p50, res.p99, res.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	// Deliveries per second while fanning out: every delivery over the time
	// from each pin's request to its last viewer, summed over the pins.
	var busy time.Duration
	for pin, last := range lastOf {
		busy += last.Sub(sent[pin])
	}
	res.perSecond = float64(len(lat)) / busy.Seconds()
	res.cpu = before.per(after, len(lat), "delivery")
	return res, nil
}

// raiseFileLimit lifts this process's open-file limit (inherited by the
// server it starts) to at least n.
func raiseFileLimit(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= n {
		return nil
	}
	if lim.Max < n {
		lim.Max = n
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise open-file limit to %d (run as root or lower --viewers): %w", n, err)
	}
	return nil
}

// readRSS returns a process's resident memory in bytes.
func readRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}
