package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/party"
)

// FuzzCreateProduct sends arbitrary bytes as the body of POST /v1/products,
// as a real brand on a real database, and checks that the server never
// answers 5xx, that every 4xx is a well-formed problem, and that it creates
// a product exactly when the body is a valid product (or answers 409 when
// the body is valid but reuses one of the brand's SKUs). The world is built
// once per process: inputs share it, so products pile up as they would.
func FuzzCreateProduct(f *testing.F) {
	for _, seed := range []string{
		`{"title":"Tea","variants":[{"sku":"TEA-1","title":"Tin","price":{"amount":1500,"currency":"JPY"},"stock":3}]}`,
		`{"title":" Scarf ","description":"Silk.\n","image_url":"https://cdn.example.com/s.jpg","variants":[` +
			`{"sku":"S-1","title":"S","price":{"amount":4900,"currency":"EUR"},"stock":0},` +
			`{"sku":"S-2","title":"L","price":{"amount":5900,"currency":"EUR"},"stock":1000000000}]}`,
		`{"title":"Tea","variants":[{"sku":"T","title":"T","price":{"amount":1500.5,"currency":"JPY"},"stock":1}]}`,
		`{"title":"Tea","variants":[{"sku":"T","title":"T","price":{"amount":1e30,"currency":"jpy"},"stock":-1}]}`,
		`{"title":"Tea","variants":[{"sku":"D","title":"T","price":{"amount":1,"currency":"EUR"},"stock":1},{"sku":"D","title":"T","price":{"amount":1,"currency":"USD"},"stock":1}]}`,
		`{"title":"Tea","colour":"green","variants":[]}`,
		`{"title":null,"variants":null,"description":null}`,
		`[]`, `null`, ``, `{}`, "{\"title\":\"\xff\"}", `{"title":"t"} x`,
	} {
		f.Add([]byte(seed))
	}
	w := newWorld(f)
	brand := w.token(party.RoleBrand, 0)
	brandID := w.a().brand.ID
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/products", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+brand)
		rec := httptest.NewRecorder()
		w.handler.ServeHTTP(rec, req)
		want, valid := referenceProduct(body)
		switch status := rec.Code; {
		case status == http.StatusCreated:
			if !valid {
				t.Fatalf("created a product from a body that is not one: %q\nreply: %s", body, rec.Body)
			}
			var got productReply
			dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("201 body: %v", err)
			}
			if err := checkAgainstSchema(w.doc, "Product", rec.Body.Bytes()); err != nil {
				t.Fatalf("201 body breaks the Product schema: %v", err)
			}
			if diff := sameProduct(got, brandID, want); diff != "" {
				t.Fatalf("body %q created a different product: %s", body, diff)
			}
		case status >= 400 && status < 500:
			p, err := checkProblemReply(w.doc, rec)
			if err != nil {
				t.Fatalf("body %q: %d is not a valid problem: %v\n%s", body, status, err, rec.Body)
			}
			if valid && !(status == http.StatusConflict && p.Code == "conflict") {
				t.Fatalf("rejected a valid product with %d %s: %q\nerrors: %+v", status, p.Code, body, p.Errors)
			}
		default:
			t.Fatalf("body %q answered %d: %s", body, status, rec.Body)
		}
	})
}

// referenceProduct decodes body the way the contract describes, written
// independently of the handler: one UTF-8 JSON object, no unknown fields,
// integer amounts and stocks, a stock on every variant, and a product the
// catalog finds valid. It returns the normalised product and whether the
// body is one.
func referenceProduct(body []byte) (catalog.NewProduct, bool) {
	if len(body) > maxBodyBytes || !utf8.Valid(body) {
		return catalog.NewProduct{}, false
	}
	var in struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		ImageURL    string `json:"image_url"`
		Variants    []struct {
			SKU   string `json:"sku"`
			Title string `json:"title"`
			Price struct {
				Amount   int64  `json:"amount"`
				Currency string `json:"currency"`
			} `json:"price"`
			Stock *int64 `json:"stock"`
		} `json:"variants"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
		return catalog.NewProduct{}, false
	}
	np := catalog.NewProduct{Title: in.Title, Description: in.Description, ImageURL: in.ImageURL}
	for _, v := range in.Variants {
		if v.Stock == nil {
			return catalog.NewProduct{}, false
		}
		np.Variants = append(np.Variants, catalog.NewVariant{
			SKU: v.SKU, Title: v.Title, Price: money.Money{Amount: v.Price.Amount, Currency: v.Price.Currency}, Stock: *v.Stock,
		})
	}
	np, err := np.Validate()
	return np, err == nil
}

// sameProduct describes how got differs from the product want of brandID,
// or returns "".
func sameProduct(got productReply, brandID string, want catalog.NewProduct) string {
	if got.BrandID != brandID || got.Title != want.Title || got.Description != want.Description || got.ImageURL != want.ImageURL {
		return "brand, title, description or image differ"
	}
	if len(got.Variants) != len(want.Variants) {
		return "number of variants differs"
	}
	for i, v := range got.Variants {
		wv := want.Variants[i]
		if v.SKU != wv.SKU || v.Title != wv.Title || v.Price != (moneyReply{wv.Price.Amount, wv.Price.Currency}) || v.StockAvailable != wv.Stock {
			return "variant " + v.SKU + " differs"
		}
	}
	return ""
}

// checkProblemReply checks an error answer: problem+json, the Problem
// schema, a status and type that agree with it, a code of problemKinds, and
// field errors on a 400.
func checkProblemReply(doc *openapi3.T, rec *httptest.ResponseRecorder) (apitest.Problem, error) {
	var p apitest.Problem
	if mt, _, err := mime.ParseMediaType(rec.Header().Get("Content-Type")); err != nil || mt != "application/problem+json" {
		return p, fmt.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
	}
	if rec.Header().Get("X-Request-Id") == "" {
		return p, fmt.Errorf("no X-Request-Id")
	}
	if err := checkAgainstSchema(doc, "Problem", rec.Body.Bytes()); err != nil {
		return p, err
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		return p, err
	}
	known := slices.ContainsFunc(problemKinds(), func(k problemKind) bool { return string(k.code) == p.Code && k.status == rec.Code })
	switch {
	case p.Status != rec.Code:
		return p, fmt.Errorf("problem status %d, HTTP status %d", p.Status, rec.Code)
	case p.Type != apitest.ProblemTypeBase+p.Code:
		return p, fmt.Errorf("type %q for code %q", p.Type, p.Code)
	case !known:
		return p, fmt.Errorf("code %q does not answer %d", p.Code, rec.Code)
	case rec.Code == http.StatusBadRequest && len(p.Errors) == 0:
		return p, fmt.Errorf("validation problem without field errors")
	}
	return p, nil
}

// checkAgainstSchema validates a JSON body against a component schema.
func checkAgainstSchema(doc *openapi3.T, name string, body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return doc.Components.Schemas[name].Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
}
