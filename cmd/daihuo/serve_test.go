package main

import (
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A serve that fails after its workers started stops them and waits for them
// before it returns, and so before it closes the Kafka writer, the broker
// and the database they use.
func TestServeFailingHalfWayWaitsForItsWorkers(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name    string
		env     []string
		args    []string
		wantErr string
	}{
		{"no payment gateway", []string{"STRIPE_SECRET_KEY=sk_test_123"}, []string{"--roles", "relay"}, "STRIPE_WEBHOOK_SECRET"},
		{"address taken", nil, []string{"--roles", "api,relay", "--addr", taken.Addr().String()}, "listen on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			getenv := envFunc(append(sharedInfra(ctx, t), tt.env...))
			args := append([]string{"serve", "--data-dir", dataDir(t), "--log-level", "error"}, tt.args...)
			err := run(ctx, args, getenv, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("serve returned %v, want an error about %s", err, tt.wantErr)
			}
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			for _, worker := range []string{"streaming.(*Relay).Run", "live.(*Presence).Run"} {
				if strings.Contains(stacks, worker) {
					t.Errorf("%s still running after serve returned:\n%s", worker, stacks)
				}
			}
		})
	}
}
