package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/idempotency"
)

// IdempotencyStore records the answers of requests made with an
// Idempotency-Key (storage.IdempotencyStore).
// Records are keyed by a scope (who asked, where) and the client's key.
type IdempotencyStore interface {
	// Begin claims (scope, key) for a request whose body hashes to
	// requestHash. It answers a lease and no record when the caller should
	// handle the request and then Complete or Abandon it under that lease;
	// the recorded answer when the same request was answered before; an error of code
	// idempotency_conflict when the key was used with another request, or
	// idempotency.ErrInProgress (wrapped) when the same request is still
	// being handled.
	Begin(ctx context.Context, scope, key string, requestHash []byte) (idempotency.Lease, *idempotency.Recorded, error)
	// Complete records the answer of the request Begin let through under
	// lease; idempotency.ErrLeaseLost when a retry took the claim over
	// (the request outlived the store's lease), which keeps its claim.
	Complete(ctx context.Context, scope, key string, lease idempotency.Lease, status int, body []byte) error
	// Abandon forgets a request Begin let through under lease, so a retry
	// runs again; a claim a retry took over stays (idempotency.ErrLeaseLost).
	Abandon(ctx context.Context, scope, key string, lease idempotency.Lease) error
	// Exists reports whether a record of (scope, key) exists, in progress
	// or answered, changing nothing.
	Exists(ctx context.Context, scope, key string) (bool, error)
}

// replayedHeader marks an answer replayed from an earlier request.
const replayedHeader = "Idempotent-Replayed"

// idempotencyCleanupTimeout bounds Complete and Abandon after the handler,
// which run even when the client has gone.
const idempotencyCleanupTimeout = 5 * time.Second

// errNoIdempotencyStore answers an idempotent route on a server built
// without a store: a wiring mistake, hence a 500.
var errNoIdempotencyStore = errors.New("idempotent route without an idempotency store")

// idempotent makes h safe to retry under the required Idempotency-Key
// header. The key is scoped to the caller (role and party), the method and
// the route template; the request is identified by the SHA-256 of its path
// and body. The first request runs h; its answer is recorded when it is a
// success (2xx), and a later request with the same key and the same
// request gets the recorded status, body, Content-Type and Location with
// Idempotent-Replayed: true, without running h. Any other answer is not
// recorded (a 4xx changed nothing, so running the request again is as safe
// as replaying it, and a sold-out or declined attempt may succeed later; a
// 5xx or a panic may be retried), so the key is free again. The same key
// with another request answers 409 idempotency_conflict; while the first
// request is still running, 409 idempotency_conflict with Retry-After: 1.
//
// It reads the body itself (within the 1 MiB limit) and hands h a fresh
// copy. Using it is one line in the route table: s.idempotent(s.placeOrder).
// It only builds a closure, so the table can still be built on a zero server.
func (s *server) idempotent(h handlerFunc) handlerFunc { return s.idempotentOr(nil, h) }

// shortcut sees a request before its key is claimed and returns an error
// when it can refuse it at once, with no work and no change (an order for a
// flash sale known to be sold out); nil lets the request run.
type shortcut func(c *gin.Context, body []byte) error

// idempotentOr is idempotent with a shortcut: a refusal it returns is
// answered at once unless a request was made under the key before, which
// then replays or conflicts as usual.
func (s *server) idempotentOr(quick shortcut, h handlerFunc) handlerFunc {
	return func(c *gin.Context) error {
		key, err := idempotencyKey(c)
		if err != nil {
			return err
		}
		if s.idempotency == nil {
			return errNoIdempotencyStore
		}
		body, err := readBody(c)
		if err != nil {
			return err
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		scope := idempotencyScope(c)
		ctx := c.Request.Context()
		if quick != nil {
			if err := quick(c, body); err != nil {
				used, lerr := s.idempotency.Exists(ctx, scope, key)
				if lerr != nil {
					return lerr
				}
				if !used {
					return err
				}
			}
		}
		hash := requestHash(c.Request.URL.Path, body)
		lease, rec, err := s.idempotency.Begin(ctx, scope, key, hash)
		if err != nil {
			if errors.Is(err, idempotency.ErrInProgress) {
				c.Header("Retry-After", "1")
			}
			return err
		}
		if rec != nil {
			return replay(c, *rec)
		}

		done := false
		defer func() {
			if !done { // a panic: the key is free again; recoverPanic answers.
				s.forgetIdempotent(ctx, scope, key, lease)
			}
		}()
		rw := &recordingWriter{ResponseWriter: c.Writer}
		c.Writer = rw
		if err := h(c); err != nil {
			s.writeError(c, err)
		}
		c.Writer = rw.ResponseWriter
		done = true
		status := rw.Status()
		if !rw.Written() || status < 200 || status > 299 {
			s.forgetIdempotent(ctx, scope, key, lease)
			return nil
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), idempotencyCleanupTimeout)
		defer cancel()
		hdr := rw.Header()
		answer := encodeReplay(hdr.Get("Content-Type"), hdr.Get("Location"), rw.body.Bytes())
		switch err := s.idempotency.Complete(cctx, scope, key, lease, status, answer); {
		case errors.Is(err, idempotency.ErrLeaseLost):
			// This request outlived the store's lease and a retry took the
			// claim over; the retry's answer is the one recorded.
			s.log.WarnContext(ctx, "idempotent answer not recorded: a retry took the key over", slog.String("key", key))
		case err != nil:
			// The answer went out without its record. The key stays claimed
			// (in progress): a retry waits, and once the store's lease has
			// passed takes it over and runs the request again, which the
			// services make safe on their own (an order is found by its key).
			// Freeing the key now would let a shortcut refuse the retry of a
			// request that succeeded.
			s.log.ErrorContext(ctx, "record idempotent answer", slog.String("error", err.Error()))
		}
		return nil
	}
}

// forgetIdempotent abandons a key held under lease, even when the client
// has gone.
func (s *server) forgetIdempotent(ctx context.Context, scope, key string, lease idempotency.Lease) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), idempotencyCleanupTimeout)
	defer cancel()
	switch err := s.idempotency.Abandon(cctx, scope, key, lease); {
	case errors.Is(err, idempotency.ErrLeaseLost):
		// A retry took the key over; its claim stays.
	case err != nil:
		// The record stays in progress until the store's lease lets a retry
		// take it over.
		s.log.ErrorContext(ctx, "abandon idempotency key", slog.String("error", err.Error()))
	}
}

// idempotencyScope names who asks where: "shopper:shp_… POST /v1/orders".
// Two callers' keys never collide, nor one caller's keys on two routes.
func idempotencyScope(c *gin.Context) string {
	p := principal(c)
	who := string(p.Role) + ":" + p.PartyID
	if p.Role == "" {
		who = "anonymous"
	}
	return who + " " + c.Request.Method + " " + c.FullPath()
}

// requestHash identifies a request under a key: its path (which names the
// object on routes with ids) and its body, without the whitespace between
// JSON tokens, so a retry that spaces or indents the same JSON otherwise is
// the same request. (Compact JSON, what clients send, hashes as before.)
func requestHash(path string, body []byte) []byte {
	var compact bytes.Buffer
	if json.Compact(&compact, body) == nil {
		body = compact.Bytes()
	}
	h := sha256.New()
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

// replayMagic starts a recorded answer: the headers worth replaying, then
// the body.
const replayMagic = "daihuo-replay/1\n"

// encodeReplay frames an answer for the store: the magic line, the
// Content-Type and Location lines (either may be empty), then the body.
func encodeReplay(contentType, location string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(replayMagic)
	b.WriteString(contentType + "\n")
	b.WriteString(location + "\n")
	b.Write(body)
	return b.Bytes()
}

// decodeReplay reads what encodeReplay framed. A record without the magic
// (written by something else) is a JSON body, or a problem for a 4xx.
func decodeReplay(status int, rec []byte) (contentType, location string, body []byte) {
	rest, ok := bytes.CutPrefix(rec, []byte(replayMagic))
	if !ok {
		contentType = "application/json"
		if status >= 400 {
			contentType = "application/problem+json"
		}
		return contentType, "", rec
	}
	line := func() string {
		l, r, _ := bytes.Cut(rest, []byte("\n"))
		rest = r
		return strings.TrimSpace(string(l))
	}
	contentType, location = line(), line()
	return contentType, location, rest
}

// replay writes a recorded answer.
func replay(c *gin.Context, rec idempotency.Recorded) error {
	if rec.Status < 100 || rec.Status > 599 {
		return fmt.Errorf("replay: recorded status %d", rec.Status)
	}
	contentType, location, body := decodeReplay(rec.Status, rec.Body)
	if location != "" {
		c.Header("Location", location)
	}
	c.Header(replayedHeader, "true")
	if len(body) == 0 {
		c.Status(rec.Status)
		c.Writer.WriteHeaderNow()
		return nil
	}
	c.Data(rec.Status, contentType, body)
	return nil
}

// recordingWriter passes a response through while keeping a copy of its body.
type recordingWriter struct {
	gin.ResponseWriter
	body bytes.Buffer
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) WriteString(s string) (int, error) {
	w.body.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}
