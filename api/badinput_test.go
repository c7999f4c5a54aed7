package api

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/party"
)

// badCase is one malformed request. Its path, auth and body may hold
// placeholders the world fills in: {prdA}, {varA}, {skuA}, {brand}, ….
type badCase struct {
	name   string
	method string
	path   string
	auth   string // the Authorization header; "" sends none
	ctype  string // the Content-Type; "" means application/json, "-" none
	body   string // "" sends no body
	status int
	code   string
	field  string // for 400: a field the errors must name
	// header holds more request headers; "{key}" in a value becomes a key
	// no other case uses.
	header map[string]string
}

// variant is a variant object with the given JSON fragments replacing the
// defaults: variant(`"stock":-1`) has a negative stock.
func variant(fields ...string) string {
	def := map[string]string{
		"sku": `"sku":"NEW-1"`, "title": `"title":"One"`,
		"price": `"price":{"amount":1999,"currency":"EUR"}`, "stock": `"stock":5`,
	}
	for _, f := range fields {
		key, _, _ := strings.Cut(strings.Trim(f, `"`), `"`)
		def[key] = f
	}
	var parts []string
	for _, k := range []string{"sku", "title", "price", "stock"} {
		if def[k] != "" {
			parts = append(parts, def[k])
		}
	}
	for _, f := range fields { // extra fields the defaults lack
		key, _, _ := strings.Cut(strings.Trim(f, `"`), `"`)
		if !slices.Contains([]string{"sku", "title", "price", "stock"}, key) {
			parts = append(parts, f)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// productWith is a product body with the given variants (JSON objects).
func productWith(variants ...string) string {
	return `{"title":"Tea","variants":[` + strings.Join(variants, ",") + `]}`
}

// price is a variant with this price object.
func price(amount, currency string) string {
	return variant(`"price":{"amount":` + amount + `,"currency":"` + currency + `"}`)
}

// badInputs are at least 40 malformed requests across the parties and
// catalog routes, each with the exact answer it must get.
func badInputs() []badCase {
	const brand, admin = "Bearer {brand}", "Bearer {admin}"
	post := func(name, body string, status int, code, field string) badCase {
		return badCase{name: name, method: http.MethodPost, path: "/v1/products", auth: brand, body: body, status: status, code: code, field: field}
	}
	invalid := func(name, body, field string) badCase { return post(name, body, 400, "validation_failed", field) }
	patch := func(name, path, auth, body string, status int, code, field string) badCase {
		return badCase{name: name, method: http.MethodPatch, path: path, auth: auth, body: body, status: status, code: code, field: field}
	}
	stock := func(name, path, body string, status int, code, field string) badCase {
		return badCase{name: name, method: http.MethodPost, path: path, auth: brand, body: body, status: status, code: code, field: field}
	}
	list := func(name, query string, field string) badCase {
		return badCase{name: name, method: http.MethodGet, path: "/v1/products" + query, auth: brand, status: 400, code: "validation_failed", field: field}
	}
	party := func(name, path, auth, body string, status int, code, field string) badCase {
		return badCase{name: name, method: http.MethodPost, path: path, auth: auth, body: body, status: status, code: code, field: field}
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = variant(fmt.Sprintf(`"sku":"MANY-%d"`, i))
	}
	huge := `{"title":"` + strings.Repeat("a", maxBodyBytes) + `","variants":[]}`
	kb10 := strings.Repeat("x", 10<<10)

	return append([]badCase{
		// POST /v1/products: types and numbers.
		invalid("title is a number", `{"title":7,"variants":[`+variant()+`]}`, "title"),
		invalid("variants is an object", `{"title":"Tea","variants":{}}`, "variants"),
		invalid("stock is a string", productWith(variant(`"stock":"5"`)), "variants[0].stock"),
		invalid("stock is negative", productWith(variant(`"stock":-1`)), "variants[0].stock"),
		invalid("stock over the maximum", productWith(variant(`"stock":1000000001`)), "variants[0].stock"),
		invalid("stock beyond int64", productWith(variant(`"stock":99999999999999999999`)), "variants[0].stock"),
		invalid("stock missing", productWith(`{"sku":"N","title":"T","price":{"amount":1,"currency":"EUR"}}`), "variants[0].stock"),
		invalid("stock is null", productWith(variant(`"stock":null`)), "variants[0].stock"),
		invalid("unknown currency", productWith(price("1999", "ABC")), "variants[0].price.currency"),
		invalid("lowercase currency", productWith(price("1999", "eur")), "variants[0].price.currency"),
		invalid("JPY price with a fraction", productWith(price("1500.5", "JPY")), "variants[0].price.amount"),
		invalid("float amount", productWith(price("19.99", "EUR")), "variants[0].price.amount"),
		invalid("amount with an exponent", productWith(price("1e3", "JPY")), "variants[0].price.amount"),
		invalid("huge exponent amount", productWith(price("1e30", "JPY")), "variants[0].price.amount"),
		invalid("amount beyond int64", productWith(price("9223372036854775808", "JPY")), "variants[0].price.amount"),
		invalid("amount over the maximum", productWith(price("1000000000001", "JPY")), "variants[0].price.amount"),
		invalid("zero amount", productWith(price("0", "EUR")), "variants[0].price.amount"),
		invalid("negative amount", productWith(price("-100", "EUR")), "variants[0].price.amount"),
		invalid("amount is a string", productWith(price(`"1999"`, "EUR")), "variants[0].price.amount"),
		invalid("currencies differ", productWith(variant(`"sku":"A"`), variant(`"sku":"B"`, `"price":{"amount":1,"currency":"USD"}`)), "variants[1].price.currency"),
		// POST /v1/products: strings and lists.
		invalid("empty title", `{"title":"","variants":[`+variant()+`]}`, "title"),
		invalid("blank title", `{"title":"   ","variants":[`+variant()+`]}`, "title"),
		invalid("10 KB title", `{"title":"`+kb10+`","variants":[`+variant()+`]}`, "title"),
		invalid("10 KB variant title", productWith(variant(`"title":"`+kb10+`"`)), "variants[0].title"),
		invalid("control character in title", `{"title":"Te\u0007a","variants":[`+variant()+`]}`, "title"),
		invalid("newline in title", `{"title":"Te\na","variants":[`+variant()+`]}`, "title"),
		invalid("invalid UTF-8 in title", "{\"title\":\"Te\xffa\",\"variants\":["+variant()+"]}", "body"),
		invalid("duplicate SKUs", productWith(variant(`"sku":"DUP"`), variant(`"sku":"DUP"`)), "variants[1].sku"),
		post("SKU already used by the brand", productWith(variant(`"sku":"{skuA}"`)), 409, "conflict", ""),
		invalid("SKU with a space", productWith(variant(`"sku":"A B"`)), "variants[0].sku"),
		invalid("SKU too long", productWith(variant(`"sku":"`+strings.Repeat("S", 65)+`"`)), "variants[0].sku"),
		invalid("no variants", `{"title":"Tea","variants":[]}`, "variants"),
		invalid("variants null", `{"title":"Tea","variants":null}`, "variants"),
		invalid("101 variants", productWith(many...), "variants"),
		invalid("image URL is not http", `{"title":"Tea","image_url":"javascript:alert(1)","variants":[`+variant()+`]}`, "image_url"),
		invalid("image URL with credentials", `{"title":"Tea","image_url":"https://u:p@example.com/a.png","variants":[`+variant()+`]}`, "image_url"),
		invalid("unknown field", `{"title":"Tea","colour":"green","variants":[`+variant()+`]}`, "colour"),
		invalid("unknown variant field", productWith(variant(`"weight":3`)), "variants[0].weight"),
		invalid("price given as a string", productWith(variant(`"price":"19.99 EUR"`)), "variants[0].price"),
		// POST /v1/products: the body as a whole.
		invalid("trailing garbage", productWith(variant())+`x`, "body"),
		invalid("two JSON values", productWith(variant())+` {}`, "body"),
		invalid("truncated", productWith(variant())[:20], "body"),
		invalid("empty body", ``, "body"),
		invalid("null body", `null`, "body"),
		invalid("array instead of object", `[`+productWith(variant())+`]`, "body"),
		{name: "wrong content type", method: http.MethodPost, path: "/v1/products", auth: brand, ctype: "text/plain",
			body: productWith(variant()), status: 415, code: "unsupported_media_type"},
		{name: "no content type", method: http.MethodPost, path: "/v1/products", auth: brand, ctype: "-",
			body: productWith(variant()), status: 415, code: "unsupported_media_type"},
		{name: "form content type", method: http.MethodPost, path: "/v1/products", auth: brand, ctype: "application/x-www-form-urlencoded",
			body: "title=Tea", status: 415, code: "unsupported_media_type"},
		post("body over 1 MiB", huge, 413, "payload_too_large", ""),
		// POST /v1/products: who is asking.
		{name: "missing auth", method: http.MethodPost, path: "/v1/products", body: productWith(variant()), status: 401, code: "unauthenticated"},
		{name: "garbled token", method: http.MethodPost, path: "/v1/products", auth: "Bearer dh_not a token", body: productWith(variant()), status: 401, code: "unauthenticated"},
		{name: "basic auth", method: http.MethodPost, path: "/v1/products", auth: "Basic YnJhbmQ6c2VjcmV0", body: productWith(variant()), status: 401, code: "unauthenticated"},
		{name: "unknown token", method: http.MethodPost, path: "/v1/products", auth: "Bearer dh_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", body: productWith(variant()), status: 401, code: "unauthenticated"},
		{name: "expired token", method: http.MethodPost, path: "/v1/products", auth: "Bearer {expired}", body: productWith(variant()), status: 401, code: "unauthenticated"},
		{name: "token of an unknown brand", method: http.MethodPost, path: "/v1/products", auth: "Bearer {ghost}", body: productWith(variant()), status: 404, code: "not_found"},
		{name: "shopper creates a product", method: http.MethodPost, path: "/v1/products", auth: "Bearer {shopper}", body: productWith(variant()), status: 403, code: "forbidden"},
		{name: "admin creates a product", method: http.MethodPost, path: "/v1/products", auth: admin, body: productWith(variant()), status: 403, code: "forbidden"},

		// PATCH /v1/products/{id}.
		patch("patch: title null", "/v1/products/{prdA}", brand, `{"title":null}`, 400, "validation_failed", "title"),
		patch("patch: image null", "/v1/products/{prdA}", brand, `{"image_url":null}`, 400, "validation_failed", "image_url"),
		patch("patch: title is a number", "/v1/products/{prdA}", brand, `{"title":5}`, 400, "validation_failed", "title"),
		patch("patch: empty title", "/v1/products/{prdA}", brand, `{"title":""}`, 400, "validation_failed", "title"),
		patch("patch: 10 KB title", "/v1/products/{prdA}", brand, `{"title":"`+kb10+`"}`, 400, "validation_failed", "title"),
		patch("patch: control character in description", "/v1/products/{prdA}", brand, `{"description":"a\u0000b"}`, 400, "validation_failed", "description"),
		patch("patch: price is not patchable", "/v1/products/{prdA}", brand, `{"price":{"amount":1,"currency":"EUR"}}`, 400, "validation_failed", "price"),
		patch("patch: brand_id is not patchable", "/v1/products/{prdA}", brand, `{"brand_id":"{brandB}"}`, 400, "validation_failed", "brand_id"),
		patch("patch: array body", "/v1/products/{prdA}", brand, `[]`, 400, "validation_failed", "body"),
		patch("patch: another brand's product", "/v1/products/{prdB}", brand, `{"title":"Mine now"}`, 404, "not_found", ""),
		patch("patch: unknown product", "/v1/products/{prdNone}", brand, `{"title":"X"}`, 404, "not_found", ""),
		patch("patch: garbage id", "/v1/products/nope", brand, `{"title":"X"}`, 404, "not_found", ""),
		patch("patch: a variant's id", "/v1/products/{varA}", brand, `{"title":"X"}`, 404, "not_found", ""),
		patch("patch: creator token", "/v1/products/{prdA}", "Bearer {creator}", `{"title":"X"}`, 403, "forbidden", ""),

		// POST /v1/variants/{id}/stock.
		stock("stock: both set and delta", "/v1/variants/{varA}/stock", `{"set":1,"delta":1}`, 400, "validation_failed", "delta"),
		stock("stock: neither", "/v1/variants/{varA}/stock", `{}`, 400, "validation_failed", "set"),
		stock("stock: negative set", "/v1/variants/{varA}/stock", `{"set":-1}`, 400, "validation_failed", "set"),
		stock("stock: set over the maximum", "/v1/variants/{varA}/stock", `{"set":1000000001}`, 400, "validation_failed", "set"),
		stock("stock: delta beyond the range", "/v1/variants/{varA}/stock", `{"delta":-1000000001}`, 400, "validation_failed", "delta"),
		stock("stock: delta is a string", "/v1/variants/{varA}/stock", `{"delta":"1"}`, 400, "validation_failed", "delta"),
		stock("stock: delta with a fraction", "/v1/variants/{varA}/stock", `{"delta":1.5}`, 400, "validation_failed", "delta"),
		stock("stock: below zero", "/v1/variants/{varA}/stock", `{"delta":-11}`, 409, "conflict", ""),
		stock("stock: unknown field", "/v1/variants/{varA}/stock", `{"add":1}`, 400, "validation_failed", "add"),
		stock("stock: another brand's variant", "/v1/variants/{varB}/stock", `{"set":1}`, 404, "not_found", ""),
		stock("stock: a product's id", "/v1/variants/{prdA}/stock", `{"set":1}`, 404, "not_found", ""),
		stock("stock: unknown variant", "/v1/variants/{varNone}/stock", `{"set":1}`, 404, "not_found", ""),

		// GET /v1/products and /v1/products/{id}.
		list("list: limit=0", "?limit=0", "limit"),
		list("list: limit=101", "?limit=101", "limit"),
		list("list: limit=abc", "?limit=abc", "limit"),
		list("list: limit twice", "?limit=1&limit=2", "limit"),
		list("list: cursor that is no cursor", "?cursor=garbage", "cursor"),
		list("list: cursor of another kind", "?cursor={varA}", "cursor"),
		list("list: overlong cursor", "?cursor="+strings.Repeat("c", 600), "cursor"),
		{name: "get: garbage id", method: http.MethodGet, path: "/v1/products/prd_", status: 404, code: "not_found"},
		{name: "get: unknown id", method: http.MethodGet, path: "/v1/products/{prdNone}", status: 404, code: "not_found"},
		{name: "get: trailing slash", method: http.MethodGet, path: "/v1/products/{prdA}/", status: 404, code: "not_found"},

		// Parties and tokens.
		party("brand: empty name", "/v1/brands", admin, `{"name":""}`, 400, "validation_failed", "name"),
		party("brand: 10 KB name", "/v1/brands", admin, `{"name":"`+kb10+`"}`, 400, "validation_failed", "name"),
		party("brand: name is a number", "/v1/brands", admin, `{"name":1}`, 400, "validation_failed", "name"),
		party("brand: made by a brand", "/v1/brands", brand, `{"name":"Mine"}`, 403, "forbidden", ""),
		party("agency: unknown field", "/v1/agencies", admin, `{"name":"X","brand_id":"b"}`, 400, "validation_failed", "brand_id"),
		party("creator: bad handle", "/v1/creators", admin, `{"handle":"has space","display_name":"X"}`, 400, "validation_failed", "handle"),
		party("creator: handle taken", "/v1/creators", admin, `{"handle":"creator_A","display_name":"X"}`, 409, "conflict", ""),
		party("creator: unknown agency", "/v1/creators", admin, `{"handle":"newbie","display_name":"X","agency_id":"{agyNone}"}`, 404, "not_found", ""),
		party("creator: a brand's id as agency", "/v1/creators", admin, `{"handle":"newbie","display_name":"X","agency_id":"{brandA}"}`, 404, "not_found", ""),
		party("creator: in another agency", "/v1/creators", "Bearer {agency}", `{"handle":"newbie","display_name":"X","agency_id":"{agyB}"}`, 404, "not_found", ""),
		party("token: unknown role", "/v1/tokens", admin, `{"role":"root"}`, 400, "validation_failed", "role"),
		party("token: party of the wrong kind", "/v1/tokens", admin, `{"role":"brand","party_id":"{shpA}"}`, 400, "validation_failed", "party_id"),
		party("token: admin with a party", "/v1/tokens", admin, `{"role":"admin","party_id":"{brandA}"}`, 400, "validation_failed", "party_id"),
		party("token: unknown brand", "/v1/tokens", admin, `{"role":"brand","party_id":"{brandNone}"}`, 404, "not_found", ""),
		party("token: expiry in the past", "/v1/tokens", admin, `{"role":"brand","party_id":"{brandA}","expires_at":"2001-01-01T00:00:00Z"}`, 400, "validation_failed", "expires_at"),
		party("token: expiry at the zero time", "/v1/tokens", admin, `{"role":"brand","party_id":"{brandA}","expires_at":"0001-01-01T00:00:00Z"}`, 400, "validation_failed", "expires_at"),
		party("token: expiry not a time", "/v1/tokens", admin, `{"role":"brand","party_id":"{brandA}","expires_at":"tomorrow"}`, 400, "validation_failed", "expires_at"),
		party("token: expiry in the year 10000 UTC", "/v1/tokens", admin, `{"role":"brand","party_id":"{brandA}","expires_at":"9999-12-31T23:59:59-00:01"}`, 400, "validation_failed", "expires_at"),
		party("token: agency mints a brand token", "/v1/tokens", "Bearer {agency}", `{"role":"brand","party_id":"{brandA}"}`, 403, "forbidden", ""),
		party("token: agency mints for another's creator", "/v1/tokens", "Bearer {agency}", `{"role":"creator","party_id":"{crtB}"}`, 404, "not_found", ""),
		party("token: creator mints", "/v1/tokens", "Bearer {creator}", `{"role":"creator","party_id":"{crtA}"}`, 403, "forbidden", ""),
		{name: "token revoke: garbage id", method: http.MethodDelete, path: "/v1/tokens/nope", auth: admin, status: 404, code: "not_found"},
		{name: "token revoke: a brand's id", method: http.MethodDelete, path: "/v1/tokens/{brandA}", auth: admin, status: 404, code: "not_found"},
		{name: "token revoke: unknown token", method: http.MethodDelete, path: "/v1/tokens/tok_01M8DYFFSFSKS8K6XCH7TDGXDD", auth: admin, status: 404, code: "not_found"},
		{name: "token revoke: creator revokes by id", method: http.MethodDelete, path: "/v1/tokens/tok_01M8DYFFSFSKS8K6XCH7TDGXDD", auth: "Bearer {creator}", status: 403, code: "forbidden"},
		party("shopper: bad email", "/v1/shoppers", "", `{"display_name":"Ana","email":"not-an-email"}`, 400, "validation_failed", "email"),
		party("shopper: no display name", "/v1/shoppers", "", `{"email":"ana@example.com"}`, 400, "validation_failed", "display_name"),
		party("shopper: expired token sent", "/v1/shoppers", "Bearer {expired}", `{"display_name":"Ana"}`, 401, "unauthenticated", ""),
		{name: "brand: read another brand", method: http.MethodGet, path: "/v1/brands/{brandB}", auth: brand, status: 404, code: "not_found"},
		{name: "creator: garbage id", method: http.MethodGet, path: "/v1/creators/crt_%00", auth: admin, status: 404, code: "not_found"},
	}, append(liveBadInputs(), orderBadInputs()...)...)
}

// liveBadInputs are the malformed requests of the live routes: streams,
// line-ups, pins, chat, mutes and likes. {strA} is tenant A's live stream
// with {prdA} in its line-up; {prdOut} is a product of brand A that is not.
func liveBadInputs() []badCase {
	const brand, creator, shopper = "Bearer {brand}", "Bearer {creator}", "Bearer {shopper}"
	c := func(name, method, path, auth, body string, status int, code, field string) badCase {
		return badCase{name: name, method: method, path: path, auth: auth, body: body, status: status, code: code, field: field}
	}
	invalid := func(name, path, auth, body, field string) badCase {
		return c(name, http.MethodPost, path, auth, body, 400, "validation_failed", field)
	}
	stream := func(name, body, field string) badCase {
		return invalid("stream: "+name, "/v1/streams", creator, body, field)
	}
	lineup := func(name, body, field string) badCase {
		return invalid("lineup: "+name, "/v1/streams/{strA}/lineup", brand, body, field)
	}
	pin := func(name, body, field string) badCase {
		return invalid("pin: "+name, "/v1/streams/{strA}/pins", brand, body, field)
	}
	now := time.Now().UTC()
	soon, past := now.Add(30*time.Minute).Format(time.RFC3339), now.Add(-time.Minute).Format(time.RFC3339)
	// flash is a pin of {prdA} with a flash sale whose fields are the
	// defaults with the given JSON fragments replacing or adding some.
	flash := func(fields ...string) string {
		def := map[string]string{
			"price": `"price":{"amount":2900,"currency":"EUR"}`, "quantity": `"quantity":10`,
			"per_buyer_limit": `"per_buyer_limit":2`, "ends_at": `"ends_at":"` + soon + `"`,
		}
		order := []string{"price", "quantity", "per_buyer_limit", "ends_at"}
		for _, f := range fields {
			key, _, _ := strings.Cut(strings.Trim(f, `"-`), `"`)
			if strings.HasPrefix(f, "-") { // -"ends_at" drops the field
				delete(def, key)
				continue
			}
			if _, ok := def[key]; !ok {
				order = append(order, key)
			}
			def[key] = f
		}
		var parts []string
		for _, k := range order {
			if def[k] != "" {
				parts = append(parts, def[k])
			}
		}
		return `{"product_id":"{prdA}","flash":{` + strings.Join(parts, ",") + `}}`
	}
	kb10 := strings.Repeat("x", 10<<10)

	return []badCase{
		// POST /v1/streams.
		stream("unknown currency", `{"title":"Show","currency":"ABC"}`, "currency"),
		stream("lowercase currency", `{"title":"Show","currency":"eur"}`, "currency"),
		stream("no currency", `{"title":"Show"}`, "currency"),
		stream("currency is a number", `{"title":"Show","currency":978}`, "currency"),
		stream("empty title", `{"title":" ","currency":"EUR"}`, "title"),
		stream("10 KB title", `{"title":"`+kb10+`","currency":"EUR"}`, "title"),
		stream("control character in title", `{"title":"Sh\u0007ow","currency":"EUR"}`, "title"),
		stream("playback URL not http", `{"title":"Show","currency":"EUR","playback_url":"rtmp://media.example.com/live"}`, "playback_url"),
		stream("playback URL is script", `{"title":"Show","currency":"EUR","playback_url":"javascript:alert(1)"}`, "playback_url"),
		stream("playback URL without host", `{"title":"Show","currency":"EUR","playback_url":"https://"}`, "playback_url"),
		stream("scheduled in 2 years", `{"title":"Show","currency":"EUR","scheduled_at":"`+now.AddDate(2, 0, 0).Format(time.RFC3339)+`"}`, "scheduled_at"),
		stream("scheduled yesterday", `{"title":"Show","currency":"EUR","scheduled_at":"`+now.AddDate(0, 0, -1).Format(time.RFC3339)+`"}`, "scheduled_at"),
		stream("scheduled_at not a time", `{"title":"Show","currency":"EUR","scheduled_at":"tonight"}`, "scheduled_at"),
		stream("unknown field", `{"title":"Show","currency":"EUR","status":"live"}`, "status"),
		stream("another creator", `{"creator_id":"{crtB}","title":"Show","currency":"EUR"}`, "creator_id"),
		invalid("stream: agency names no creator", "/v1/streams", "Bearer {agency}", `{"title":"Show","currency":"EUR"}`, "creator_id"),
		// U+0000 fits no text column: refused by its path before the database sees it.
		invalid("stream: creator_id with a NUL", "/v1/streams", "Bearer {agency}", `{"creator_id":"\u0000","title":"Show","currency":"EUR"}`, "creator_id"),
		stream("title with a NUL", `{"title":"Show\u0000","currency":"EUR"}`, "title"),
		lineup("product_id with a NUL", `{"product_id":"\u0000","commission_bps":1000}`, "product_id"),
		pin("product_id with a NUL", `{"product_id":"prd_\u0000"}`, "product_id"),
		invalid("stream: agency names another agency's creator", "/v1/streams", "Bearer {agency}", `{"creator_id":"{crtB}","title":"Show","currency":"EUR"}`, "creator_id"),
		c("stream: made by a brand", http.MethodPost, "/v1/streams", brand, `{"title":"Show","currency":"EUR"}`, 403, "forbidden", ""),
		{name: "stream: form content type", method: http.MethodPost, path: "/v1/streams", auth: creator, ctype: "application/x-www-form-urlencoded",
			body: "title=Show&currency=EUR", status: 415, code: "unsupported_media_type"},

		// Stream paths.
		c("stream: garbage id", http.MethodGet, "/v1/streams/str_", "", "", 404, "not_found", ""),
		c("stream: a product's id", http.MethodGet, "/v1/streams/{prdA}", "", "", 404, "not_found", ""),
		c("stream: unknown id", http.MethodGet, "/v1/streams/{strNone}", "", "", 404, "not_found", ""),
		c("timeline: unknown stream", http.MethodGet, "/v1/streams/{strNone}/timeline", "", "", 404, "not_found", ""),
		c("lineup: list of unknown stream", http.MethodGet, "/v1/streams/{strNone}/lineup", "", "", 404, "not_found", ""),
		c("start: another tenant's stream", http.MethodPost, "/v1/streams/{strB}/start", creator, "", 404, "not_found", ""),
		c("start: a live stream", http.MethodPost, "/v1/streams/{strA}/start", creator, "", 409, "invalid_state", ""),
		c("end: another tenant's stream", http.MethodPost, "/v1/streams/{strB}/end", "Bearer {agency}", "", 404, "not_found", ""),
		// Routes that take no body refuse one they would ignore.
		c("start: a body with an unknown field", http.MethodPost, "/v1/streams/{strScheduled}/start", creator, `{"not_a_field":true}`, 400, "validation_failed", "not_a_field"),
		c("end: a body that is not JSON", http.MethodPost, "/v1/streams/{strA}/end", creator, `{"scheduled_at":"garbage", "{{{`, 400, "validation_failed", "body"),
		c("unpin: a body with an unknown field", http.MethodDelete, "/v1/streams/{strA}/pins/{pinFlash}", "Bearer {brand}", `{"why":"over"}`, 400, "validation_failed", "why"),
		c("revoke own token: a body with an unknown field", http.MethodDelete, "/v1/tokens/current", "Bearer {creatorB}", `{"all":true}`, 400, "validation_failed", "all"),

		// POST /v1/streams/{id}/lineup.
		lineup("commission -1", `{"product_id":"{prdA}","commission_bps":-1}`, "commission_bps"),
		lineup("commission 10001", `{"product_id":"{prdA}","commission_bps":10001}`, "commission_bps"),
		lineup("commission missing", `{"product_id":"{prdA}"}`, "commission_bps"),
		lineup("commission null", `{"product_id":"{prdA}","commission_bps":null}`, "commission_bps"),
		lineup("commission is a string", `{"product_id":"{prdA}","commission_bps":"1000"}`, "commission_bps"),
		lineup("commission with a fraction", `{"product_id":"{prdA}","commission_bps":12.5}`, "commission_bps"),
		lineup("another brand's product", `{"product_id":"{prdB}","commission_bps":1000}`, "product_id"),
		lineup("unknown product", `{"product_id":"{prdNone}","commission_bps":1000}`, "product_id"),
		lineup("no product", `{"commission_bps":1000}`, "product_id"),
		c("lineup: unknown stream", http.MethodPost, "/v1/streams/{strNone}/lineup", brand, `{"product_id":"{prdA}","commission_bps":1000}`, 404, "not_found", ""),
		c("lineup: garbage stream id", http.MethodPost, "/v1/streams/nope/lineup", brand, `{"product_id":"{prdA}","commission_bps":1000}`, 404, "not_found", ""),

		// POST /v1/streams/{id}/pins.
		pin("product not in the line-up", `{"product_id":"{prdOut}"}`, "product_id"),
		pin("another brand's product", `{"product_id":"{prdB}"}`, "product_id"),
		pin("no product", `{}`, "product_id"),
		pin("flash quantity 0", flash(`"quantity":0`), "flash.quantity"),
		pin("flash quantity huge", flash(`"quantity":1000001`), "flash.quantity"),
		pin("flash quantity beyond int64", flash(`"quantity":99999999999999999999`), "flash.quantity"),
		pin("flash quantity missing", flash(`-"quantity"`), "flash.quantity"),
		pin("flash per-buyer limit over the quantity", flash(`"per_buyer_limit":11`), "flash.per_buyer_limit"),
		pin("flash per-buyer limit negative", flash(`"per_buyer_limit":-1`), "flash.per_buyer_limit"),
		pin("flash price 0", flash(`"price":{"amount":0,"currency":"EUR"}`), "flash.price.amount"),
		pin("flash price negative", flash(`"price":{"amount":-5,"currency":"EUR"}`), "flash.price.amount"),
		pin("flash JPY price with a fraction", flash(`"price":{"amount":1500.5,"currency":"JPY"}`), "flash.price.amount"),
		pin("flash price in another currency", flash(`"price":{"amount":1500,"currency":"JPY"}`), "flash.price.currency"),
		pin("flash price in an unknown currency", flash(`"price":{"amount":1500,"currency":"XYZ"}`), "flash.price.currency"),
		pin("flash price missing", flash(`-"price"`), "flash.price"),
		pin("flash ends_at missing", flash(`-"ends_at"`), "flash.ends_at"),
		pin("flash ends_at in the past", flash(`"ends_at":"`+past+`"`), "flash.ends_at"),
		pin("flash ends_at not a time", flash(`"ends_at":"soon"`), "flash.ends_at"),
		pin("flash unknown field", flash(`"discount":10`), "flash.discount"),
		pin("flash is a number", `{"product_id":"{prdA}","flash":5}`, "flash"),
		c("pin: unknown stream", http.MethodPost, "/v1/streams/{strNone}/pins", brand, `{"product_id":"{prdA}"}`, 404, "not_found", ""),
		c("pin: another tenant's host", http.MethodPost, "/v1/streams/{strA}/pins", "Bearer {creatorB}", `{"product_id":"{prdA}"}`, 404, "not_found", ""),
		c("pin: shopper pins", http.MethodPost, "/v1/streams/{strA}/pins", shopper, `{"product_id":"{prdA}"}`, 403, "forbidden", ""),
		c("pin: the host sets a flash price on a brand's product", http.MethodPost, "/v1/streams/{strA}/pins", creator, flash(), 403, "forbidden", ""),

		// DELETE /v1/streams/{id}/lineup/{product_id}.
		c("lineup remove: garbage stream id", http.MethodDelete, "/v1/streams/nope/lineup/{prdA}", creator, "", 404, "not_found", ""),
		c("lineup remove: unknown stream", http.MethodDelete, "/v1/streams/{strNone}/lineup/{prdA}", creator, "", 404, "not_found", ""),
		c("lineup remove: garbage product id", http.MethodDelete, "/v1/streams/{strA}/lineup/nope", creator, "", 404, "not_found", ""),
		c("lineup remove: unknown product", http.MethodDelete, "/v1/streams/{strA}/lineup/{prdNone}", creator, "", 404, "not_found", ""),
		c("lineup remove: a stream id as product id", http.MethodDelete, "/v1/streams/{strA}/lineup/{strA}", creator, "", 404, "not_found", ""),
		c("lineup remove: product not in the line-up", http.MethodDelete, "/v1/streams/{strA}/lineup/{prdOut}", creator, "", 404, "not_found", ""),
		c("lineup remove: another brand's product", http.MethodDelete, "/v1/streams/{strB}/lineup/{prdB}", brand, "", 404, "not_found", ""),
		c("lineup remove: another tenant's host", http.MethodDelete, "/v1/streams/{strA}/lineup/{prdA}", "Bearer {creatorB}", "", 404, "not_found", ""),
		c("lineup remove: shopper", http.MethodDelete, "/v1/streams/{strA}/lineup/{prdA}", shopper, "", 403, "forbidden", ""),
		c("lineup remove: ended stream", http.MethodDelete, "/v1/streams/{strEnded}/lineup/{prdA}", creator, "", 409, "invalid_state", ""),

		// DELETE /v1/streams/{id}/pins/{pin_id}.
		c("unpin: garbage pin id", http.MethodDelete, "/v1/streams/{strA}/pins/nope", creator, "", 404, "not_found", ""),
		c("unpin: unknown pin", http.MethodDelete, "/v1/streams/{strA}/pins/{pinNone}", creator, "", 404, "not_found", ""),
		c("unpin: a stream id as pin id", http.MethodDelete, "/v1/streams/{strA}/pins/{strA}", creator, "", 404, "not_found", ""),

		// POST /v1/streams/{id}/chat.
		invalid("chat: empty", "/v1/streams/{strA}/chat", shopper, `{"text":"   "}`, "text"),
		invalid("chat: 501 characters", "/v1/streams/{strA}/chat", shopper, `{"text":"`+strings.Repeat("é", 501)+`"}`, "text"),
		invalid("chat: invalid UTF-8", "/v1/streams/{strA}/chat", shopper, "{\"text\":\"hi \xff\"}", "body"),
		invalid("chat: control character", "/v1/streams/{strA}/chat", shopper, `{"text":"hi\u0000"}`, "text"),
		invalid("chat: blocked word", "/v1/streams/{strA}/chat", shopper, `{"text":"cheaper on TELEGRAM"}`, "text"),
		invalid("chat: text is a number", "/v1/streams/{strA}/chat", shopper, `{"text":42}`, "text"),
		invalid("chat: unknown field", "/v1/streams/{strA}/chat", shopper, `{"text":"hi","shopper_id":"{shpA}"}`, "shopper_id"),
		c("chat: unknown stream", http.MethodPost, "/v1/streams/{strNone}/chat", shopper, `{"text":"hi"}`, 404, "not_found", ""),
		c("chat: a brand chats", http.MethodPost, "/v1/streams/{strA}/chat", brand, `{"text":"hi"}`, 403, "forbidden", ""),
		c("chat: delete garbage id", http.MethodDelete, "/v1/streams/{strA}/chat/nope", creator, "", 404, "not_found", ""),
		c("chat: delete unknown message", http.MethodDelete, "/v1/streams/{strA}/chat/{msgNone}", creator, "", 404, "not_found", ""),

		// POST /v1/streams/{id}/likes.
		invalid("likes: 0", "/v1/streams/{strA}/likes", shopper, `{"count":0}`, "count"),
		invalid("likes: 51", "/v1/streams/{strA}/likes", shopper, `{"count":51}`, "count"),
		invalid("likes: negative", "/v1/streams/{strA}/likes", shopper, `{"count":-3}`, "count"),
		invalid("likes: string", "/v1/streams/{strA}/likes", shopper, `{"count":"5"}`, "count"),
		invalid("likes: fraction", "/v1/streams/{strA}/likes", shopper, `{"count":1.5}`, "count"),
		invalid("likes: missing", "/v1/streams/{strA}/likes", shopper, `{}`, "count"),
		c("likes: unknown stream", http.MethodPost, "/v1/streams/{strNone}/likes", shopper, `{"count":1}`, 404, "not_found", ""),

		// Mutes.
		invalid("mute: a brand's id", "/v1/streams/{strA}/mutes", creator, `{"shopper_id":"{brandA}"}`, "shopper_id"),
		invalid("mute: unknown shopper", "/v1/streams/{strA}/mutes", creator, `{"shopper_id":"{shpNone}"}`, "shopper_id"),
		invalid("mute: no shopper", "/v1/streams/{strA}/mutes", creator, `{}`, "shopper_id"),
		invalid("mute: unknown field", "/v1/streams/{strA}/mutes", creator, `{"shopper_id":"{shpA}","minutes":10}`, "minutes"),
		c("mute: another tenant's stream", http.MethodPost, "/v1/streams/{strB}/mutes", creator, `{"shopper_id":"{shpA}"}`, 404, "not_found", ""),
		c("unmute: garbage shopper id", http.MethodDelete, "/v1/streams/{strA}/mutes/nope", creator, "", 404, "not_found", ""),
		c("unmute: a brand's id", http.MethodDelete, "/v1/streams/{strA}/mutes/{brandA}", creator, "", 404, "not_found", ""),

		// GET /v1/streams/{id}/stats.
		c("stats: garbage stream id", http.MethodGet, "/v1/streams/str_/stats", creator, "", 404, "not_found", ""),
		c("stats: a product's id", http.MethodGet, "/v1/streams/{prdA}/stats", brand, "", 404, "not_found", ""),
		c("stats: unknown stream", http.MethodGet, "/v1/streams/{strNone}/stats", creator, "", 404, "not_found", ""),
		c("stats: another tenant's stream", http.MethodGet, "/v1/streams/{strB}/stats", creator, "", 404, "not_found", ""),
		c("stats: by a shopper", http.MethodGet, "/v1/streams/{strA}/stats", shopper, "", 403, "forbidden", ""),
	}
}

// object is a JSON object of defaults (`"key":value` fragments) with each
// field replacing the default of its key, or added; -"key" drops one.
func object(defaults []string, fields ...string) string {
	keyOf := func(f string) string {
		k, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(f, "-"), `"`), `"`)
		return k
	}
	parts := slices.Clone(defaults)
	for _, f := range fields {
		i := slices.IndexFunc(parts, func(p string) bool { return keyOf(p) == keyOf(f) })
		switch {
		case strings.HasPrefix(f, "-"):
			if i >= 0 {
				parts = slices.Delete(parts, i, i+1)
			}
		case i >= 0:
			parts[i] = f
		default:
			parts = append(parts, f)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// orderJSON is a valid POST /v1/orders body (one unit of {varA} on the live
// stream {strA}) with fields replacing or adding top-level fields.
func orderJSON(fields ...string) string {
	return object([]string{`"stream_id":"{strA}"`, items(item()), shipTo()}, fields...)
}

// items is the items field with these lines.
func items(lines ...string) string { return `"items":[` + strings.Join(lines, ",") + `]` }

// item is one unit of {varA} with fields replacing or adding some.
func item(fields ...string) string {
	return object([]string{`"variant_id":"{varA}"`, `"quantity":1`}, fields...)
}

// shipTo is a valid shipping field with fields replacing or adding some.
func shipTo(fields ...string) string {
	return `"shipping":` + object([]string{`"name":"Mia Chen"`, `"line1":"12 Rue de Rivoli"`, `"city":"Paris"`,
		`"postal_code":"75001"`, `"country":"FR"`}, fields...)
}

// orderBadInputs are the malformed requests of the order and payment
// routes. {ordPending} and {ordPaid} are orders of tenant A's shopper (one
// unit of {varA}, €49), {ordB} a pending order of tenant B's shopper;
// {pinFlash} is a flash pin on {strA} (2 per buyer), {pinExpired} one whose
// sale is over, {pinB} a pin on tenant B's stream; {varUSD} is in {strA}'s
// line-up but priced in USD; {strScheduled} and {strEnded} have {prdA} in
// their line-ups.
func orderBadInputs() []badCase {
	const shopper, brand = "Bearer {shopper}", "Bearer {brand}"
	keyed := map[string]string{idempotencyHeader: "{key}"}
	c := func(name, method, path, auth, body string, status int, code, field string) badCase {
		return badCase{name: name, method: method, path: path, auth: auth, body: body, status: status, code: code, field: field}
	}
	place := func(name, body string, status int, code, field string) badCase {
		bc := c("order: "+name, http.MethodPost, "/v1/orders", shopper, body, status, code, field)
		bc.header = keyed
		return bc
	}
	invalid := func(name, body, field string) badCase { return place(name, body, 400, "validation_failed", field) }
	withKey := func(bc badCase, key string) badCase {
		bc.header = map[string]string{idempotencyHeader: key}
		return bc
	}
	refund := func(name, path, auth, body string, status int, code, field string) badCase {
		bc := c("refund: "+name, http.MethodPost, path, auth, body, status, code, field)
		bc.header = keyed
		return bc
	}
	confirm := func(name, intent, body string, status int, code, field string) badCase {
		return c("confirm: "+name, http.MethodPost, "/v1/payments/local/"+intent+"/confirm", "", body, status, code, field)
	}
	lines := make([]string, 21)
	for i := range lines {
		lines[i] = item(`"variant_id":"var_` + strings.Repeat("0", 25-len(fmt.Sprint(i))) + fmt.Sprint(i) + `"`)
	}
	kb10 := strings.Repeat("x", 10<<10)
	event := `{"id":"evt_1","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}`

	return []badCase{
		// POST /v1/orders: prices come from the server.
		invalid("unit price in an item", orderJSON(items(item(`"unit_price":{"amount":1,"currency":"EUR"}`))), "items[0].unit_price"),
		invalid("price in an item", orderJSON(items(item(`"price":{"amount":1,"currency":"EUR"}`))), "items[0].price"),
		invalid("total given", orderJSON(`"total":{"amount":1,"currency":"EUR"}`), "total"),
		// Quantities.
		invalid("quantity 0", orderJSON(items(item(`"quantity":0`))), "items[0].quantity"),
		invalid("quantity -1", orderJSON(items(item(`"quantity":-1`))), "items[0].quantity"),
		invalid("quantity 101", orderJSON(items(item(`"quantity":101`))), "items[0].quantity"),
		invalid("quantity 1e9", orderJSON(items(item(`"quantity":1e9`))), "items[0].quantity"),
		invalid("quantity 1000000000", orderJSON(items(item(`"quantity":1000000000`))), "items[0].quantity"),
		invalid("quantity beyond int64", orderJSON(items(item(`"quantity":99999999999999999999`))), "items[0].quantity"),
		invalid("quantity is a string", orderJSON(items(item(`"quantity":"2"`))), "items[0].quantity"),
		invalid("quantity 1.5", orderJSON(items(item(`"quantity":1.5`))), "items[0].quantity"),
		invalid("quantity missing", orderJSON(items(item(`-"quantity"`))), "items[0].quantity"),
		invalid("quantity in the second line", orderJSON(items(item(), item(`"variant_id":"{varA1}"`, `"quantity":0`))), "items[1].quantity"),
		// Lines.
		invalid("21 items", orderJSON(items(lines...)), "items"),
		invalid("no items", orderJSON(items()), "items"),
		invalid("items null", orderJSON(`"items":null`), "items"),
		invalid("items is an object", orderJSON(`"items":{}`), "items"),
		invalid("same variant twice", orderJSON(items(item(), item())), "items[1].variant_id"),
		invalid("variant not in the line-up", orderJSON(items(item(`"variant_id":"{varOut}"`))), "items[0].variant_id"),
		invalid("variant of another stream", orderJSON(items(item(`"variant_id":"{varB}"`))), "items[0].variant_id"),
		invalid("unknown variant", orderJSON(items(item(`"variant_id":"{varNone}"`))), "items[0].variant_id"),
		invalid("a product id as variant", orderJSON(items(item(`"variant_id":"{prdA}"`))), "items[0].variant_id"),
		place("product in another currency than the stream's", orderJSON(items(item(`"variant_id":"{varUSD}"`))), 422, "currency_mismatch", ""),
		// Streams and pins.
		invalid("unknown stream", orderJSON(`"stream_id":"{strNone}"`), "stream_id"),
		invalid("no stream", orderJSON(`-"stream_id"`), "stream_id"),
		invalid("stream id of a product", orderJSON(`"stream_id":"{prdA}"`), "stream_id"),
		place("stream not live yet", orderJSON(`"stream_id":"{strScheduled}"`), 409, "invalid_state", ""),
		place("stream ended", orderJSON(`"stream_id":"{strEnded}"`), 409, "invalid_state", ""),
		place("flash pin expired", orderJSON(`"pin_id":"{pinExpired}"`), 409, "invalid_state", ""),
		place("over the flash pin's limit per buyer", orderJSON(`"pin_id":"{pinFlash}"`, items(item(`"quantity":3`))), 409, "limit_exceeded", ""),
		invalid("pin of another stream", orderJSON(`"pin_id":"{pinB}"`), "pin_id"),
		invalid("unknown pin", orderJSON(`"pin_id":"{pinNone}"`), "pin_id"),
		invalid("pin id of a stream", orderJSON(`"pin_id":"{strA}"`), "pin_id"),
		// Shipping.
		invalid("no shipping", orderJSON(`-"shipping"`), "shipping.name"),
		invalid("shipping without postal code", orderJSON(shipTo(`-"postal_code"`)), "shipping.postal_code"),
		invalid("blank city", orderJSON(shipTo(`"city":"  "`)), "shipping.city"),
		invalid("country XX", orderJSON(shipTo(`"country":"XX"`)), "shipping.country"),
		invalid("country france", orderJSON(shipTo(`"country":"france"`)), "shipping.country"),
		invalid("10 KB name", orderJSON(shipTo(`"name":"`+kb10+`"`)), "shipping.name"),
		invalid("control character in line1", orderJSON(shipTo(`"line1":"12 Rue\u0000 de Rivoli"`)), "shipping.line1"),
		invalid("postal code with symbols", orderJSON(shipTo(`"postal_code":"75001;--"`)), "shipping.postal_code"),
		invalid("phone in shipping", orderJSON(shipTo(`"phone":"+33 1 23 45 67 89"`)), "shipping.phone"),
		invalid("shipping is a string", orderJSON(`"shipping":"12 Rue de Rivoli, Paris"`), "shipping"),
		// The request as a whole.
		withKey(invalid("no Idempotency-Key", orderJSON(), idempotencyHeader), ""),
		withKey(invalid("Idempotency-Key of 256 characters", orderJSON(), idempotencyHeader), strings.Repeat("k", 256)),
		withKey(invalid("Idempotency-Key with a space", orderJSON(), idempotencyHeader), "my key"),
		withKey(invalid("Idempotency-Key not ASCII", orderJSON(), idempotencyHeader), "clé-1"),
		{name: "order: wrong content type", method: http.MethodPost, path: "/v1/orders", auth: shopper, ctype: "text/plain",
			body: orderJSON(), header: keyed, status: 415, code: "unsupported_media_type"},
		invalid("empty body", "", "body"),
		{name: "order: by a brand", method: http.MethodPost, path: "/v1/orders", auth: brand, body: orderJSON(), header: keyed, status: 403, code: "forbidden"},
		{name: "order: without a token", method: http.MethodPost, path: "/v1/orders", body: orderJSON(), header: keyed, status: 401, code: "unauthenticated"},

		// Reading and cancelling.
		c("order: another shopper's", http.MethodGet, "/v1/orders/{ordB}", shopper, "", 404, "not_found", ""),
		c("order: another brand's", http.MethodGet, "/v1/orders/{ordPaid}", "Bearer {brandTokB}", "", 404, "not_found", ""),
		c("order: garbage id", http.MethodGet, "/v1/orders/ord_", shopper, "", 404, "not_found", ""),
		c("orders: limit=0", http.MethodGet, "/v1/orders?limit=0", shopper, "", 400, "validation_failed", "limit"),
		c("orders: cursor that is no cursor", http.MethodGet, "/v1/orders?cursor=garbage", shopper, "", 400, "validation_failed", "cursor"),
		c("orders: unknown status", http.MethodGet, "/v1/orders?status=shipped", shopper, "", 400, "validation_failed", "status"),
		c("orders: status twice", http.MethodGet, "/v1/orders?status=paid&status=paid", shopper, "", 400, "validation_failed", "status"),
		c("orders: stream_id that is no stream id", http.MethodGet, "/v1/orders?stream_id={ordB}", "Bearer {brandTokB}", "", 400, "validation_failed", "stream_id"),
		c("orders: from that is no time", http.MethodGet, "/v1/orders?from=yesterday", shopper, "", 400, "validation_failed", "from"),
		c("orders: to without a zone", http.MethodGet, "/v1/orders?to=2026-11-27T18:00:00", shopper, "", 400, "validation_failed", "to"),
		c("orders: to before from", http.MethodGet, "/v1/orders?from=2026-11-27T18:00:00Z&to=2026-11-27T17:00:00Z", shopper, "", 400, "validation_failed", "to"),
		c("orders: from in year 10000", http.MethodGet, "/v1/orders?from=10000-01-01T00:00:00Z", shopper, "", 400, "validation_failed", "from"),
		c("cancel: another shopper's order", http.MethodPost, "/v1/orders/{ordB}/cancel", shopper, "", 404, "not_found", ""),
		c("cancel: a paid order", http.MethodPost, "/v1/orders/{ordPaid}/cancel", shopper, "", 409, "invalid_state", ""),
		c("cancel: unknown order", http.MethodPost, "/v1/orders/{ordNone}/cancel", shopper, "", 404, "not_found", ""),
		c("cancel: a stream's id", http.MethodPost, "/v1/orders/{strA}/cancel", shopper, "", 404, "not_found", ""),
		c("cancel: by the brand", http.MethodPost, "/v1/orders/{ordPending}/cancel", brand, "", 403, "forbidden", ""),
		c("cancel: a body with an unknown field", http.MethodPost, "/v1/orders/{ordPending}/cancel", shopper, `{"reason":"x"}`, 400, "validation_failed", "reason"),

		// Refunds.
		refund("over the paid amount", "/v1/orders/{ordPaid}/refund", brand, `{"amount":{"amount":4901,"currency":"EUR"}}`, 400, "validation_failed", "amount.amount"),
		refund("in another currency", "/v1/orders/{ordPaid}/refund", brand, `{"amount":{"amount":100,"currency":"USD"}}`, 422, "currency_mismatch", ""),
		refund("of an unpaid order", "/v1/orders/{ordPending}/refund", brand, `{}`, 409, "invalid_state", ""),
		refund("admin, of an unpaid order", "/v1/orders/{ordPending}/refund", "Bearer {admin}", "", 409, "invalid_state", ""),
		refund("zero amount", "/v1/orders/{ordPaid}/refund", brand, `{"amount":{"amount":0,"currency":"EUR"}}`, 400, "validation_failed", "amount.amount"),
		refund("negative amount", "/v1/orders/{ordPaid}/refund", brand, `{"amount":{"amount":-100,"currency":"EUR"}}`, 400, "validation_failed", "amount.amount"),
		refund("amount with a fraction", "/v1/orders/{ordPaid}/refund", brand, `{"amount":{"amount":10.5,"currency":"EUR"}}`, 400, "validation_failed", "amount.amount"),
		refund("amount is a string", "/v1/orders/{ordPaid}/refund", brand, `{"amount":"49.00 EUR"}`, 400, "validation_failed", "amount"),
		refund("unknown currency", "/v1/orders/{ordPaid}/refund", brand, `{"amount":{"amount":100,"currency":"ABC"}}`, 400, "validation_failed", "amount.currency"),
		refund("unknown field", "/v1/orders/{ordPaid}/refund", brand, `{"reason":"broken"}`, 400, "validation_failed", "reason"),
		refund("another brand's order", "/v1/orders/{ordPaid}/refund", "Bearer {brandTokB}", `{}`, 404, "not_found", ""),
		refund("unknown order", "/v1/orders/{ordNone}/refund", brand, `{}`, 404, "not_found", ""),
		refund("by the shopper", "/v1/orders/{ordPaid}/refund", shopper, `{}`, 403, "forbidden", ""),
		withKey(refund("no Idempotency-Key", "/v1/orders/{ordPaid}/refund", brand, `{}`, 400, "validation_failed", idempotencyHeader), ""),

		// Paying with the simulator.
		confirm("wrong client secret", "{intentPending}", `{"client_secret":"{intentPending}_secret_wrong","card_number":"4242424242424242"}`, 404, "not_found", ""),
		confirm("another intent's secret", "{intentPending}", `{"client_secret":"{secretPaid}","card_number":"4242424242424242"}`, 404, "not_found", ""),
		confirm("card number abc", "{intentPending}", `{"client_secret":"{secretPending}","card_number":"abc"}`, 400, "validation_failed", "card_number"),
		confirm("card number failing Luhn", "{intentPending}", `{"client_secret":"{secretPending}","card_number":"4242424242424241"}`, 400, "validation_failed", "card_number"),
		confirm("card number is a number", "{intentPending}", `{"client_secret":"{secretPending}","card_number":4242424242424242}`, 400, "validation_failed", "card_number"),
		confirm("no client secret", "{intentPending}", `{"card_number":"4242424242424242"}`, 400, "validation_failed", "client_secret"),
		confirm("intent id with a NUL", "pi_local%00x", `{"client_secret":"{secretPending}","card_number":"4242424242424242"}`, 404, "not_found", ""),
		confirm("intent id not UTF-8", "pi_local%ffx", `{"client_secret":"{secretPending}","card_number":"4242424242424242"}`, 404, "not_found", ""),
		confirm("unknown intent", "pi_local_nope", `{"client_secret":"{secretPending}","card_number":"4242424242424242"}`, 404, "not_found", ""),
		confirm("paid intent", "{intentPaid}", `{"client_secret":"{secretPaid}","card_number":"4242424242424242"}`, 409, "invalid_state", ""),

		// Webhooks.
		c("webhook: no signature", http.MethodPost, "/v1/webhooks/stripe", "", event, 400, "validation_failed", stripeSignatureHeader),
		{name: "webhook: garbled signature", method: http.MethodPost, path: "/v1/webhooks/stripe", body: event,
			header: map[string]string{stripeSignatureHeader: "t=1,v1=00"}, status: 400, code: "validation_failed", field: stripeSignatureHeader},
		{name: "webhook: not JSON", method: http.MethodPost, path: "/v1/webhooks/stripe", ctype: "text/plain", body: event,
			header: map[string]string{stripeSignatureHeader: "t=1,v1=00"}, status: 415, code: "unsupported_media_type"},
	}
}

// TestBadInput sends every malformed request of badInputs and checks its
// exact status and code, the field it names, and that the database did not
// change.
func TestBadInput(t *testing.T) {
	cases := badInputs()
	if len(cases) < 40 {
		t.Fatalf("only %d bad inputs; the contract asks for at least 40", len(cases))
	}
	if n := len(liveBadInputs()); n < 25 {
		t.Fatalf("only %d bad inputs of the live routes; at least 25", n)
	}
	if n := len(orderBadInputs()); n < 30 {
		t.Fatalf("only %d bad inputs of the order routes; at least 30", n)
	}
	w := newWorld(t)
	a, b := w.a(), w.b()
	now := time.Now()
	ctx := context.Background()
	brandA := party.Principal{Role: party.RoleBrand, PartyID: a.brand.ID}
	// A product of brand A in the stream's currency, not in its line-up.
	out, err := w.catalog.CreateProduct(ctx, brandA, catalog.NewProduct{
		Title: "Not offered", Variants: []catalog.NewVariant{{SKU: "OUT-1", Title: "One", Price: money.Money{Amount: 100, Currency: "EUR"}, Stock: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A product in the line-up of A's stream, since repriced in dollars.
	usd, err := w.catalog.CreateProduct(ctx, brandA, catalog.NewProduct{
		Title: "Repriced", Variants: []catalog.NewVariant{{SKU: "USD-1", Title: "One", Price: money.Money{Amount: 100, Currency: "EUR"}, Stock: 5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.live.AddToLineup(ctx, brandA, a.stream.ID, usd.ID, 1000); err != nil {
		t.Fatal(err)
	}
	if err := w.db.Exec(`UPDATE variants SET price_currency = 'USD' WHERE product_id = ?`, usd.ID).Error; err != nil {
		t.Fatal(err)
	}
	// Streams that are not live, flash pins live and over, orders.
	ended := w.newStream(t, 0, true)
	if _, err := w.live.EndStream(ctx, party.Principal{Role: party.RoleCreator, PartyID: a.creator.ID}, ended.ID); err != nil {
		t.Fatal(err)
	}
	expired := w.newFlashPin(t, 0, a.stream, 5, 0)
	if err := w.db.Exec(`UPDATE pins SET flash_ends_at = now() - interval '1 minute' WHERE id = ?`, expired.ID).Error; err != nil {
		t.Fatal(err)
	}
	flash := w.newFlashPin(t, 0, a.stream, 5, 2)
	pending, paid, theirs := w.newOrder(t, 0, 1), w.paidOrder(t, 0, 1), w.newOrder(t, 1, 1)
	fill := strings.NewReplacer(
		"{admin}", w.admin,
		"{brand}", w.token(party.RoleBrand, 0),
		"{agency}", w.token(party.RoleAgency, 0),
		"{creator}", w.token(party.RoleCreator, 0),
		"{shopper}", w.token(party.RoleShopper, 0),
		"{expired}", w.storeToken(t, party.RoleBrand, a.brand.ID, now.Add(-time.Hour)),
		"{ghost}", w.storeToken(t, party.RoleBrand, id.New(party.PrefixBrand, now), time.Time{}),
		"{prdA}", a.product.ID, "{prdB}", b.product.ID, "{prdNone}", id.New("prd", now),
		"{varA}", a.product.Variants[0].ID, "{varB}", b.product.Variants[0].ID, "{varNone}", id.New("var", now),
		"{skuA}", a.product.Variants[0].SKU,
		"{brandA}", a.brand.ID, "{brandB}", b.brand.ID, "{brandNone}", id.New(party.PrefixBrand, now),
		"{agyB}", b.agency.ID, "{agyNone}", id.New(party.PrefixAgency, now),
		"{crtA}", a.creator.ID, "{crtB}", b.creator.ID, "{shpA}", a.shopper.ID,
		"{creatorB}", w.token(party.RoleCreator, 1),
		"{strA}", a.stream.ID, "{strB}", b.stream.ID, "{strNone}", id.New(live.PrefixStream, now),
		"{prdOut}", out.ID, "{pinNone}", id.New(live.PrefixPin, now), "{msgNone}", id.New(live.PrefixMessage, now),
		"{shpNone}", id.New(party.PrefixShopper, now),
		"{varA1}", a.product.Variants[1].ID, "{varOut}", out.Variants[0].ID, "{varUSD}", usd.Variants[0].ID,
		"{strScheduled}", w.newStream(t, 0, false).ID, "{strEnded}", ended.ID,
		"{pinFlash}", flash.ID, "{pinExpired}", expired.ID, "{pinB}", w.newPin(t, 1, b.stream).ID,
		"{ordPending}", pending.ID, "{ordPaid}", paid.ID, "{ordB}", theirs.ID, "{ordNone}", id.New(order.PrefixOrder, now),
		"{intentPending}", pending.Payment.IntentID, "{secretPending}", pending.Payment.ClientSecret,
		"{intentPaid}", paid.Payment.IntentID, "{secretPaid}", paid.Payment.ClientSecret,
		"{brandTokB}", w.token(party.RoleBrand, 1),
	)
	names := map[string]bool{}
	for _, tt := range cases {
		if names[tt.name] {
			t.Errorf("two cases named %q", tt.name)
		}
		names[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			c := w.client(t)
			var body any
			if tt.body != "" {
				body = fill.Replace(tt.body)
			}
			req := apitest.NewRequest(t, tt.method, fill.Replace(tt.path), "", body)
			switch tt.ctype {
			case "":
				if tt.method != http.MethodGet {
					req.Header.Set("Content-Type", "application/json")
				}
			case "-":
			default:
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", fill.Replace(tt.auth))
			}
			for k, v := range tt.header {
				if v != "" {
					req.Header.Set(k, fill.Replace(strings.ReplaceAll(v, "{key}", w.unique("bad-key-"))))
				}
			}
			before := w.snapshot(t)
			res := c.Do(req).Want(tt.status)
			p := res.Problem()
			if p.Code != tt.code {
				t.Errorf("code %s, want %s (%s)", p.Code, tt.code, p.Detail)
			}
			if tt.field != "" && !slices.ContainsFunc(p.Errors, func(e apitest.FieldError) bool { return e.Field == tt.field }) {
				t.Errorf("errors %+v do not name %s", p.Errors, tt.field)
			}
			if tt.status == 400 && len(p.Errors) == 0 {
				t.Errorf("a validation problem without field errors")
			}
			if after := w.snapshot(t); !maps.Equal(before, after) {
				t.Errorf("the database changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}
