// Package page is cursor pagination for the domain's lists: what a caller
// asks for, its checks, and how a list fetched one item long is cut into a
// page and the cursor of the next one.
package page

import (
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/id"
)

// Paging limits.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Request asks for one page of a list: at most Limit items (1–MaxLimit, 0
// means DefaultLimit) after the Cursor of the previous page.
type Request struct {
	Limit  int
	Cursor string
}

// Check validates r for a list whose cursors are ids with prefix and
// returns the number of items to show.
func (r Request) Check(prefix string) (int, error) {
	var v errs.Validator
	v.Check(r.Limit >= 0 && r.Limit <= MaxLimit, "limit", "must be between 1 and %d", MaxLimit)
	v.Check(r.Cursor == "" || id.Valid(prefix, r.Cursor), "cursor", "is not a cursor of this list")
	if err := v.Err(); err != nil {
		return 0, err
	}
	if r.Limit == 0 {
		return DefaultLimit, nil
	}
	return r.Limit, nil
}

// Cut takes items fetched with limit+1 and returns at most limit of them
// and the cursor of the next page (the id of the last shown), empty on the
// last page.
func Cut[T any](items []T, limit int, idOf func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, idOf(items[limit-1])
}
