//go:build !unix

package hub

import (
	"errors"
	"net"
)

// rawWrites reports that shards cannot write to connections' descriptors
// here: every viewer is served by its own goroutine.
const rawWrites = false

var errNoRawWrites = errors.New("hub: raw writes are not supported on this system")

func writeFD(int, []byte) (int, error) { return 0, errNoRawWrites }

func descriptor(net.Conn) (int, error) { return -1, errNoRawWrites }
