//go:build !linux

package main

import (
	"context"
	"errors"
)

// fanoutViewers is the viewers' side of the fan-out benchmark; only Linux
// has one (it reads with epoll).
type fanoutViewers struct{}

func connectViewers(context.Context, string, []byte, int, int, int) (*fanoutViewers, error) {
	return nil, errors.New("bench fanout needs Linux: its viewers are read with epoll")
}

func (*fanoutViewers) complete() int     { return 0 }
func (*fanoutViewers) stop() [][]arrival { return nil }
func (*fanoutViewers) close()            {}
