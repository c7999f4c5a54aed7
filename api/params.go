package api

import (
	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/id"
)

// idempotencyHeader is the header that makes a creating POST safe to retry.
const idempotencyHeader = "Idempotency-Key"

// pathID returns the path parameter name when it is an id with the given
// prefix ("prd"); anything else answers 404 without touching the store,
// exactly like an id that does not exist.
func pathID(c *gin.Context, name, prefix string) (string, error) {
	v := c.Param(name)
	if !id.Valid(prefix, v) {
		return "", errs.ErrNotFound
	}
	return v, nil
}

// idempotencyKey returns the required Idempotency-Key header: 1 to 255
// visible ASCII characters.
func idempotencyKey(c *gin.Context) (string, error) {
	vs := c.Request.Header.Values(idempotencyHeader)
	var v errs.Validator
	if !v.Check(len(vs) == 1, idempotencyHeader, "is required once on this request") {
		return "", v.Err()
	}
	key := vs[0]
	ok := len(key) >= 1 && len(key) <= 255
	for i := 0; ok && i < len(key); i++ {
		ok = key[i] > ' ' && key[i] < 0x7f
	}
	v.Check(ok, idempotencyHeader, "must be 1 to 255 visible ASCII characters")
	return key, v.Err()
}
