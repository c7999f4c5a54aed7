package report

import (
	"context"
	"slices"
	"testing"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/order"
)

// TestApplyActsOnlyOnEventTypes: the consumer passes over the types not in
// EventTypes, so Apply must not act on any of them. A Service without a
// store would panic if it tried.
func TestApplyActsOnlyOnEventTypes(t *testing.T) {
	s := NewService(nil, nil, nil, nil, nil)
	for _, typ := range []string{order.EventCreated, order.EventPaid, order.EventCancelled,
		order.EventRefunded, order.EventRefundFailed, order.EventFlashStock} {
		if slices.Contains(EventTypes(), typ) {
			continue
		}
		ev := event.Event{ID: "evt_1", Type: typ, Data: []byte(`{"order_id":"ord_1"}`)}
		if err := s.Apply(context.Background(), ev); err != nil {
			t.Errorf("Apply(%s) = %v, want nil", typ, err)
		}
	}
	for _, typ := range EventTypes() {
		ev := event.Event{ID: "evt_1", Type: typ, Data: []byte(`not json`)}
		if err := s.apply(context.Background(), ev); err == nil {
			t.Errorf("apply(%s) ignored its event; EventTypes lists it", typ)
		}
	}
}
