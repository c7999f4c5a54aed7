package storage

import (
	"context"
	"sync"

	"github.com/daihuo/daihuo/domain/order"
)

// NaiveReserver is the textbook way to take stock, kept as the baseline of
// `daihuo bench flashsale`: every order runs its own transaction that locks
// the pin and variant rows with SELECT … FOR UPDATE, so buyers of one hot
// row queue on its lock one commit at a time. It applies exactly the same
// rules as Reserver (it is Reserver's batch of one) and is as correct; it is
// only slower. It is not used outside the benchmark.
type NaiveReserver struct {
	r    *Reserver
	mu   sync.Mutex
	rows map[string]*hotRow // flash.stock coalescing state per row
}

var _ order.Reserver = (*NaiveReserver)(nil)

// NewNaiveReserver returns the baseline reserver on the batcher's settings.
func NewNaiveReserver(r *Reserver) *NaiveReserver {
	return &NaiveReserver{r: r, rows: map[string]*hotRow{}}
}

// Reserve takes the stock of req in a transaction of its own.
func (n *NaiveReserver) Reserve(ctx context.Context, req order.ReserveRequest) error {
	if err := checkReserveRequest(req); err != nil {
		return err
	}
	key, k := "var:"+req.Lines[0].VariantID, hotRow{variantID: req.Lines[0].VariantID}
	if req.PinID != "" {
		key, k = "pin:"+req.PinID, hotRow{pinID: req.PinID}
	}
	n.mu.Lock()
	row := n.rows[key]
	if row == nil {
		row = &k
		n.rows[key] = row
	}
	n.mu.Unlock()
	c := &reserveCall{req: req, done: make(chan error, 1)}
	out, err := n.r.applyBatch(ctx, row, []*reserveCall{c})
	if err != nil {
		return err
	}
	return out.results[0]
}
