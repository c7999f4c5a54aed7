package local

import "github.com/daihuo/daihuo/domain/payment/localstate"

// The simulator's state and the store that keeps it are declared in
// domain/payment/localstate, so storage can implement the store without
// importing the simulator; these names keep the simulator's API whole.
type (
	// Store keeps the simulator's state (localstate.Store).
	Store = localstate.Store
	// IntentRecord is a stored payment intent.
	IntentRecord = localstate.IntentRecord
	// RefundRecord is a stored refund.
	RefundRecord = localstate.RefundRecord
	// TransferRecord is a stored transfer.
	TransferRecord = localstate.TransferRecord
	// EventRecord is a webhook event waiting for, or done with, delivery.
	EventRecord = localstate.EventRecord
)
