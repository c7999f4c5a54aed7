// Package id makes the opaque, type-prefixed identifiers of daihuo (prd_…, ord_…).
//
// An id is a prefix, an underscore and 26 Crockford base32 characters holding a
// 48-bit millisecond timestamp followed by 80 random bits, so ids of one type
// sort by creation time and serve directly as pagination cursors.
package id

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// New returns a fresh id with the given prefix, created at t.
func New(prefix string, t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on supported platforms.
	return prefix + "_" + encode(b)
}

// Floor returns the smallest id with the given prefix made at t's
// millisecond: every id made at or after t sorts at or above it, every id
// made before t's millisecond below it. It turns a time range into an id
// range.
func Floor(prefix string, t time.Time) string {
	var b [16]byte
	ms := uint64(max(t.UnixMilli(), 0))
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	return prefix + "_" + encode(b)
}

// Valid reports whether s looks like an id with the given prefix. It lets
// handlers answer 404 for garbage without a database round trip.
func Valid(prefix, s string) bool {
	body, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(body) != 26 {
		return false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(alphabet, body[i]) < 0 {
			return false
		}
	}
	return true
}

// encode writes 128 bits as 26 base32 characters, most significant first.
func encode(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	out := make([]byte, 26)
	for i := 25; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out)
}
