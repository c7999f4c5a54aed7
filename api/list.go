package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/errs"
)

// The list convention of the contract: ?limit= (1–100, default 20), ?cursor=.
const (
	defaultLimit   = 20
	maxLimit       = 100
	maxCursorBytes = 512
)

// page is the ?limit= and ?cursor= of a list request. An empty Cursor asks
// for the first page; what a cursor means is the store's business.
type page struct {
	Limit  int
	Cursor string
}

// pageQuery reads ?limit= and ?cursor=, reporting every bad one at once.
func pageQuery(c *gin.Context) (page, error) {
	q := c.Request.URL.Query()
	p := page{Limit: defaultLimit}
	var v errs.Validator
	if ls, ok := q["limit"]; ok {
		n, err := strconv.Atoi(ls[0])
		if v.Check(len(ls) == 1, "limit", "must be given once") &&
			v.Check(err == nil && n >= 1 && n <= maxLimit, "limit", "must be an integer from 1 to %d", maxLimit) {
			p.Limit = n
		}
	}
	if cs, ok := q["cursor"]; ok {
		if v.Check(len(cs) == 1, "cursor", "must be given once") &&
			v.Check(len(cs[0]) <= maxCursorBytes, "cursor", "is not a cursor this server gave") {
			p.Cursor = cs[0]
		}
	}
	return p, v.Err()
}

// listBody is the envelope of every list reply.
type listBody[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// replyList answers 200 with items and the cursor of the next page; an empty
// next means this was the last page (next_cursor: null).
func replyList[T any](c *gin.Context, items []T, next string) error {
	body := listBody[T]{Data: items, NextCursor: nil}
	if body.Data == nil {
		body.Data = []T{}
	}
	if next != "" {
		body.NextCursor = &next
	}
	return reply(c, http.StatusOK, body)
}
