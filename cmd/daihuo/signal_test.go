package main

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// A shutdown held up by a request that never finishes (here a client still
// sending its body) waits up to --shutdown-timeout; a second interrupt
// stops the process at once instead of being ignored.
func TestSecondInterruptStopsAtOnce(t *testing.T) {
	for _, tt := range []struct {
		name string
		cmd  func() *exec.Cmd
	}{
		{"started as usual", func() *exec.Cmd { return exec.Command(os.Args[0], "-test.run=^$") }},
		// A script's background job starts with interrupts ignored.
		{"started ignoring interrupts", func() *exec.Cmd {
			return exec.Command("sh", "-c", `trap '' INT; exec "$0" "$@"`, os.Args[0], "-test.run=^$")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) { secondInterrupt(t, tt.cmd()) })
	}
}

func secondInterrupt(t *testing.T, cmd *exec.Cmd) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startChildCmd(t, cmd, sharedInfra(ctx, t), "--shutdown-timeout", "2m")
	u, err := url.Parse(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /v1/shoppers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server reads the headers: the connection is busy
	exited := make(chan error, 1)
	go func() { exited <- srv.cmd.Wait() }()
	if err := srv.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The first interrupt starts the shutdown, which waits for the request;
	// the next ones (sent until one lands after the first was taken) end it.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case <-exited:
			return
		case <-tick.C:
			_ = srv.cmd.Process.Signal(syscall.SIGINT)
		case <-deadline:
			t.Fatal("the server still runs 30 s after repeated interrupts, waiting for a request that never ends")
		}
	}
}
