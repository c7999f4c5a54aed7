package api

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestSoldOutShortcutKeepsTheKeyContract: once a flash pin is known sold
// out, a fresh key is refused at once with sold_out, but a key used before
// still replays its first answer, and the same key with another body is
// still idempotency_conflict.
func TestSoldOutShortcutKeepsTheKeyContract(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	a := w.a()
	pin := w.newFlashPin(t, 0, a.stream, 1, 0)
	v := a.product.Variants[0].ID
	_, tok := w.newShopper(t)
	_, late := w.newShopper(t)

	res := c.Do(withKey(t, http.MethodPost, "/v1/orders", tok, "won", orderRequest(a.stream.ID, pin.ID, v, 1))).Want(http.StatusCreated)
	var first orderReply
	if err := json.Unmarshal(res.Body, &first); err != nil {
		t.Fatal(err)
	}
	// The pin is sold out now, and this process knows it after one refusal.
	for _, key := range []string{"late-1", "late-2"} {
		wantCode(t, c.Do(withKey(t, http.MethodPost, "/v1/orders", late, key, orderRequest(a.stream.ID, pin.ID, v, 1))).Want(http.StatusConflict), "sold_out", "")
	}
	// The winner's retry replays its order.
	res = c.Do(withKey(t, http.MethodPost, "/v1/orders", tok, "won", orderRequest(a.stream.ID, pin.ID, v, 1))).Want(http.StatusCreated)
	var again orderReply
	if err := json.Unmarshal(res.Body, &again); err != nil || again.ID != first.ID || res.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry of the winner: %s (%v), replayed %q; want %s", again.ID, err, res.Header.Get("Idempotent-Replayed"), first.ID)
	}
	// Its key with another body is still a conflict, not sold out.
	wantCode(t, c.Do(withKey(t, http.MethodPost, "/v1/orders", tok, "won", orderRequest(a.stream.ID, pin.ID, v, 2))).Want(http.StatusConflict), "idempotency_conflict", "")
	// Bad input is still bad input.
	wantCode(t, c.Do(withKey(t, http.MethodPost, "/v1/orders", late, "late-3", map[string]any{"stream_id": a.stream.ID, "pin_id": pin.ID})).Want(http.StatusBadRequest), "validation_failed", "")
	if n := w.count(t, `SELECT count(*) FROM idempotency_keys WHERE key LIKE 'late-%'`); n != 0 {
		t.Errorf("%d idempotency records of refused orders", n)
	}
}
