package payment

import (
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
)

// Limits of requests, Stripe's, so a request the local simulator accepts is
// one Stripe accepts too.
const (
	MaxIdempotencyKeyLen = 255  // bytes
	MaxDescriptionLen    = 1000 // characters
	MaxMetadataKeys      = 50
	MaxMetadataKeyLen    = 40  // characters
	MaxMetadataValueLen  = 500 // characters
	MaxIDLen             = 255 // bytes of an intent or account id
)

// Validate checks an intent request before it reaches a provider; field
// errors are named after the request's fields in snake case.
func (r IntentRequest) Validate() error {
	var v errs.Validator
	checkPositive(&v, "amount", r.Amount)
	checkCommon(&v, r.IdempotencyKey, r.Description, r.Metadata)
	return v.Err()
}

// Validate checks a refund request; the zero Amount means "all that is left".
func (r RefundRequest) Validate() error {
	var v errs.Validator
	checkID(&v, "intent_id", r.IntentID)
	if r.Amount != (money.Money{}) {
		checkPositive(&v, "amount", r.Amount)
	}
	switch r.Reason {
	case "", ReasonRequestedByCustomer, ReasonDuplicate, ReasonFraudulent:
	default:
		v.Check(false, "reason", "must be requested_by_customer, duplicate or fraudulent")
	}
	checkCommon(&v, r.IdempotencyKey, "", r.Metadata)
	return v.Err()
}

// Validate checks a transfer request.
func (r TransferRequest) Validate() error {
	var v errs.Validator
	checkID(&v, "destination", r.Destination)
	checkPositive(&v, "amount", r.Amount)
	checkCommon(&v, r.IdempotencyKey, r.Description, r.Metadata)
	return v.Err()
}

// ValidateID checks that s can be an intent id before asking a provider.
func ValidateID(field, s string) error {
	var v errs.Validator
	checkID(&v, field, s)
	return v.Err()
}

// checkID accepts what providers' ids are made of (pi_3Mtw…, pi_local_01…,
// acct_1Nv…): ASCII letters, digits, underscores and hyphens.
func checkID(v *errs.Validator, field, s string) {
	ok := s != "" && len(s) <= MaxIDLen
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	}
	v.Check(ok, field, "must be a provider id of at most %d letters, digits, _ and -", MaxIDLen)
}

func checkPositive(v *errs.Validator, field string, m money.Money) {
	if err := m.Validate(); err != nil {
		v.Add(field+".", err)
		return
	}
	v.Check(m.Amount > 0, field+".amount", "must be positive")
}

func checkCommon(v *errs.Validator, key, description string, metadata map[string]string) {
	v.Check(len(key) <= MaxIdempotencyKeyLen, "idempotency_key", "must be at most %d bytes", MaxIdempotencyKeyLen)
	v.Check(utf8.ValidString(description) && utf8.RuneCountInString(description) <= MaxDescriptionLen,
		"description", "must be valid UTF-8 of at most %d characters", MaxDescriptionLen)
	v.Check(len(metadata) <= MaxMetadataKeys, "metadata", "must have at most %d keys", MaxMetadataKeys)
	for _, k := range slices.Sorted(maps.Keys(metadata)) {
		val := metadata[k]
		v.Check(k != "" && utf8.ValidString(k) && utf8.RuneCountInString(k) <= MaxMetadataKeyLen && !strings.ContainsAny(k, "[]"),
			"metadata", "key %q must be 1 to %d characters without brackets", k, MaxMetadataKeyLen)
		v.Check(utf8.ValidString(val) && utf8.RuneCountInString(val) <= MaxMetadataValueLen,
			"metadata."+k, "must be valid UTF-8 of at most %d characters", MaxMetadataValueLen)
	}
}
