//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// fanoutViewers are the benchmark's SSE viewers: raw non-blocking sockets
// read by a few epoll loops, one per core, rather than a goroutine per
// connection. This is a load generator sharing the machine with the server
// it measures, so it spends as little CPU per delivery as it can (as wrk
// does): no goroutine wake-up, no buffered reader, no allocation per frame.
// Each frame is still read, parsed and timestamped when the read that
// completes it returns, and every viewer's pins are checked.
type fanoutViewers struct {
	pins     int
	fds      []int // per viewer, -1 when it never connected
	conns    []benchConn
	readers  []*benchReader
	done     atomic.Int64 // viewers that have every pin
	stopping atomic.Bool
	wg       sync.WaitGroup
}

// benchReader is one epoll loop and the viewers it reads.
type benchReader struct {
	epfd int
	buf  []byte
	last []byte // the last pin id seen, to share its string
	pin  string
}

// benchConn is the reader-owned state of one viewer.
type benchConn struct {
	partial     []byte // an unfinished line carried to the next read
	statusRead  bool
	sawSnapshot bool
	pinEvent    bool
	closed      bool
	arrivals    []arrival
}

// connectViewers dials n viewers to host (from 127.0.0.x, x < sources),
// sends each the request and returns once every one has its snapshot.
func connectViewers(ctx context.Context, host string, request []byte, n, sources, pins int) (*fanoutViewers, error) {
	ap, err := netip.ParseAddrPort(host)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("server address %q: want an IPv4 address and port", host)
	}
	server := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	v := &fanoutViewers{pins: pins, fds: make([]int, n), conns: make([]benchConn, n)}
	for i := range v.fds {
		v.fds[i] = -1
		v.conns[i].arrivals = make([]arrival, 0, pins) // no growing while timed
	}
	var settled, failed atomic.Int64
	var firstErr atomic.Value
	for range runtime.GOMAXPROCS(0) {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			v.close()
			return nil, fmt.Errorf("epoll: %w", err)
		}
		r := &benchReader{epfd: epfd, buf: make([]byte, 64<<10)}
		v.readers = append(v.readers, r)
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			v.read(r, &settled, &failed)
		}()
	}

	// Dial with blocking connects from a few goroutines (threads), then hand
	// each socket, non-blocking, to a reader.
	next := atomic.Int64{}
	var dials sync.WaitGroup
	for range 32 {
		dials.Add(1)
		go func() {
			defer dials.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fd, err := dialViewer(ctx, server, [4]byte{127, 0, 0, byte(1 + i%sources)}, request)
				if err == nil {
					r := v.readers[i%len(v.readers)]
					ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: int32(fd), Pad: int32(i)}
					if err = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
						syscall.Close(fd)
					} else {
						v.fds[i] = fd
					}
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					failed.Add(1)
					settled.Add(1)
				}
			}
		}()
	}
	dials.Wait()
	deadline := time.Now().Add(2 * time.Minute)
	for settled.Load() < int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if f, s := failed.Load(), settled.Load(); f > 0 || s < int64(n) {
		v.close()
		err, _ := firstErr.Load().(error)
		return nil, fmt.Errorf("%d of %d viewers could not connect, %d without a snapshot (%v)", f, n, int64(n)-s, err)
	}
	return v, nil
}

// dialViewer connects a blocking socket from src, sends the request and
// returns the socket switched to non-blocking.
func dialViewer(ctx context.Context, server *syscall.SockaddrInet4, src [4]byte, request []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	// SO_SNDTIMEO bounds the blocking connect and write.
	tv := syscall.Timeval{Sec: 10}
	err = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	if err == nil {
		err = syscall.Bind(fd, &syscall.SockaddrInet4{Addr: src})
	}
	if err == nil {
		err = connectViewer(fd, server)
	}
	for b := request; err == nil && len(b) > 0; {
		var n int
		if n, err = syscall.Write(fd, b); err == syscall.EINTR {
			err = nil // a signal (the Go scheduler's preemption) cut the call short
		}
		b = b[max(n, 0):]
	}
	if err == nil {
		err = syscall.SetNonblock(fd, true)
	}
	if err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("dial from %v: %w", netip.AddrFrom4(src), err)
	}
	return fd, nil
}

// connectViewer connects the blocking socket fd. A connect cut short by a
// signal (Go preempts goroutines with SIGURG) goes on in the kernel: ask
// again until it says the socket is connected.
func connectViewer(fd int, server *syscall.SockaddrInet4) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		switch err := syscall.Connect(fd, server); err {
		case nil, syscall.EISCONN:
			return nil
		case syscall.EINTR, syscall.EALREADY, syscall.EINPROGRESS:
			if time.Now().After(deadline) {
				return fmt.Errorf("connect: %w", syscall.ETIMEDOUT)
			}
			time.Sleep(100 * time.Microsecond)
		default:
			return err
		}
	}
}

// epollET is EPOLLET as the uint32 of EpollEvent.Events.
const epollET = 1 << 31

// While a fan-out is under way each reader polls every pollEvery, which
// adds at most that much to the latencies it measures; after pollIdle empty
// polls it blocks in epoll_wait again.
const (
	pollEvery = 500 * time.Microsecond
	pollIdle  = 40
)

// read is one reader's epoll loop, until stop.
func (v *fanoutViewers) read(r *benchReader, settled, failed *atomic.Int64) {
	events := make([]syscall.EpollEvent, 1024)
	idle := 0 // empty polls in a row
	for !v.stopping.Load() {
		// While frames arrive, poll every pollEvery rather than sleep in
		// epoll_wait: a reader asleep there is woken by every single
		// delivery, a wake-up (and context switch) the server pays for in
		// its write. Back to blocking once the burst is over.
		timeout := 50
		if idle < pollIdle {
			timeout = 0
		}
		n, err := syscall.EpollWait(r.epfd, events, timeout)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		switch {
		case n > 0:
			idle = 0
		case timeout == 0:
			idle++
			time.Sleep(pollEvery)
			continue
		}
		for _, ev := range events[:n] {
			fd, i := int(ev.Fd), int(ev.Pad)
			c := &v.conns[i]
			// Edge-triggered: read until a read comes back short, which on
			// a stream socket means its receive queue is empty; data that
			// comes later raises a new edge.
			var m int
			var err error
			for {
				m, err = syscall.Read(fd, r.buf)
				if errors.Is(err, syscall.EINTR) {
					continue
				}
				if m <= 0 {
					break
				}
				before := c.sawSnapshot
				if !v.feed(r, c, r.buf[:m], time.Now()) {
					m = 0 // not an event stream: end it
					break
				}
				if c.sawSnapshot && !before {
					settled.Add(1)
				}
				if m < len(r.buf) && ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) == 0 {
					break // drained; past a hang-up, read on to its end
				}
			}
			if m > 0 || errors.Is(err, syscall.EAGAIN) {
				continue
			}
			// The end of the stream, or an error.
			_ = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
			closeAbortive(fd)
			c.closed = true
			if !c.sawSnapshot {
				failed.Add(1)
				settled.Add(1)
			}
		}
	}
}

// feed parses what one read returned, line by line: the status line first,
// then SSE lines (anything else, such as headers and chunk sizes, is not an
// SSE line and is skipped). It reports false when the status is not 200.
func (v *fanoutViewers) feed(r *benchReader, c *benchConn, b []byte, now time.Time) bool {
	if len(c.partial) > 0 {
		c.partial = append(c.partial, b...)
		b, c.partial = c.partial, c.partial[:0]
	}
	for {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			break
		}
		line := b[:nl]
		b = b[nl+1:]
		if !c.statusRead {
			c.statusRead = true
			if !bytes.Contains(line, []byte(" 200 ")) {
				return false
			}
			continue
		}
		switch {
		case bytes.HasPrefix(line, []byte("event: ")):
			ev := bytes.TrimSpace(line[7:])
			c.pinEvent = string(ev) == "pin.added"
			if string(ev) == "snapshot" {
				c.sawSnapshot = true
			}
		case c.pinEvent && bytes.HasPrefix(line, []byte("data: ")):
			c.pinEvent = false
			pin := jsonStringBytes(line, []byte(`"id":"`))
			if len(pin) == 0 {
				continue
			}
			if !bytes.Equal(pin, r.last) {
				r.last = append(r.last[:0], pin...)
				r.pin = string(pin)
			}
			c.arrivals = append(c.arrivals, arrival{pin: r.pin, at: now})
			if len(c.arrivals) == v.pins {
				v.done.Add(1)
			}
		}
	}
	if len(b) > 0 {
		c.partial = append(c.partial, b...)
	}
	return true
}

// complete is how many viewers have had every pin.
func (v *fanoutViewers) complete() int { return int(v.done.Load()) }

// stop ends the readers and returns every viewer's arrivals.
func (v *fanoutViewers) stop() [][]arrival {
	v.stopping.Store(true)
	v.wg.Wait()
	out := make([][]arrival, len(v.conns))
	for i := range v.conns {
		out[i] = v.conns[i].arrivals
	}
	return out
}

// close stops the readers and closes the viewers' sockets.
func (v *fanoutViewers) close() {
	v.stop()
	for i, fd := range v.fds {
		if fd >= 0 && !v.conns[i].closed {
			closeAbortive(fd)
			v.conns[i].closed = true
		}
	}
	for _, r := range v.readers {
		syscall.Close(r.epfd)
	}
	v.readers = nil
}

// closeAbortive closes a socket with a reset, so the many ports of a run do
// not linger in TIME_WAIT for the next one.
func closeAbortive(fd int) {
	_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	syscall.Close(fd)
}
