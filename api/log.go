package api

import (
	"context"
	"log/slog"
)

// LogHandler wraps h so every record logged with the context of an HTTP
// request carries its request_id. New wraps Deps.Logger with it; main may
// wrap the program's logger too so services logging with the request's
// context get the id as well (wrapping twice is harmless).
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

// requestIDHandler adds the request id of the record's context.
type requestIDHandler struct{ slog.Handler }

// Handle adds request_id when ctx belongs to a request.
func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if rid := RequestID(ctx); rid != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", rid))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper around the derived handler.
func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
