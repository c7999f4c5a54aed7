//go:build unix

package hub

import (
	"errors"
	"net"
	"syscall"
)

// rawWrites reports that shards can write to connections' descriptors.
const rawWrites = true

// writeFD makes one write of b to a non-blocking socket: it never waits for
// room in the socket buffer. It returns how much was written (-1 or less
// than len(b) when it did not all fit; EAGAIN when none did).
func writeFD(fd int, b []byte) (int, error) {
	return syscall.Write(fd, b)
}

// descriptor returns the socket descriptor of a connection, which stays
// valid until the connection is closed.
func descriptor(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, errors.New("hub: connection without a descriptor")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := raw.Control(func(d uintptr) { fd = int(d) }); err != nil {
		return -1, err
	}
	return fd, nil
}
