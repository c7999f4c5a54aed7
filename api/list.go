package api

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/page"
)

// The list convention of the contract: ?limit= (1–page.MaxLimit, default
// page.DefaultLimit), ?cursor=, at most maxCursorBytes long.
const maxCursorBytes = 512

// queryParam returns the value of the query parameter name and whether it
// was given exactly once; given more than once is reported to v.
func queryParam(q url.Values, v *errs.Validator, name string) (string, bool) {
	vals := q[name]
	if len(vals) == 0 || !v.Check(len(vals) == 1, name, "must be given once") {
		return "", false
	}
	return vals[0], true
}

// pageQuery reads ?limit= and ?cursor=, reporting every bad one at once.
func pageQuery(c *gin.Context) (page.Request, error) {
	q := c.Request.URL.Query()
	p := page.Request{Limit: page.DefaultLimit}
	var v errs.Validator
	if l, ok := queryParam(q, &v, "limit"); ok {
		n, err := strconv.Atoi(l)
		if v.Check(err == nil && n >= 1 && n <= page.MaxLimit, "limit", "must be an integer from 1 to %d", page.MaxLimit) {
			p.Limit = n
		}
	}
	if cur, ok := queryParam(q, &v, "cursor"); ok {
		if v.Check(len(cur) <= maxCursorBytes, "cursor", "is not a cursor this server gave") {
			p.Cursor = cur
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
