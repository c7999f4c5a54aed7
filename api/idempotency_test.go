package api

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

// idemPaths documents the test route of the idempotency tests.
const idemPaths = `{"/test/idem/{id}": {"post": {
  "x-roles": ["admin", "brand", "agency", "creator", "shopper"],
  "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
    {"$ref": "#/components/parameters/IdempotencyKey"}],
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
  "responses": {
    "201": {"description": "made", "headers": {"Location": {"$ref": "#/components/headers/Location"},
        "Idempotent-Replayed": {"$ref": "#/components/headers/IdempotentReplayed"}},
      "content": {"application/json": {"schema": {"type": "object", "required": ["run"],
        "properties": {"run": {"type": "integer"}}, "additionalProperties": false}}}},
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": {"$ref": "#/components/responses/IdempotentConflict"},
    "413": {"$ref": "#/components/responses/PayloadTooLarge"},
    "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
    "500": {"$ref": "#/components/responses/InternalError"}}}}}`

// idemRequest is what the test handler is told to do.
type idemRequest struct {
	Answer int    `json:"answer"` // 201, 409 (sold out) or 500
	Panic  bool   `json:"panic"`
	Block  bool   `json:"block"` // wait for release before answering
	Note   string `json:"note"`
}

// idemHandler counts its runs and answers as told.
type idemHandler struct {
	runs    atomic.Int64
	entered chan struct{} // a blocking request has started
	release chan struct{}
}

func (h *idemHandler) handle(c *gin.Context) error {
	var req idemRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	run := h.runs.Add(1)
	if req.Block {
		h.entered <- struct{}{}
		<-h.release
	}
	switch {
	case req.Panic:
		panic("boom")
	case req.Answer == 500:
		return errors.New("disk on fire")
	case req.Answer == 409:
		return errs.New(errs.CodeSoldOut, "sold out")
	}
	return created(c, "/test/idem/"+c.Param("id")+"/runs/"+strconv.FormatInt(run, 10), map[string]int64{"run": run})
}

// idemEnv serves the idempotent test route with a real store on db.
func idemEnv(t *testing.T, db *gorm.DB, wait time.Duration, h *idemHandler) *apitest.Client {
	t.Helper()
	return idemEnvWith(t, db, storage.IdempotencyConfig{Wait: wait}, h.handle)
}

// idemEnvWith serves handle as the idempotent test route, with a real store
// configured by cfg on db.
func idemEnvWith(t *testing.T, db *gorm.DB, cfg storage.IdempotencyConfig, handle handlerFunc) *apitest.Client {
	t.Helper()
	store := storage.NewIdempotencyStore(db, cfg)
	s := newServer(Deps{
		Auth:        fakeAuth{},
		Idempotency: store,
	})
	doc := apitest.LoadSpec(t, OpenAPI())
	apitest.AddPaths(t, doc, idemPaths)
	return apitest.New(t, s.engine([]route{
		{http.MethodPost, "/test/idem/:id", allow(party.Roles()...), s.idempotent(handle)},
	}), doc)
}

func newIdemHandler() *idemHandler {
	return &idemHandler{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

// idemCall posts body to /test/idem/{id} as token with key.
func idemCall(t *testing.T, c *apitest.Client, id, token, key string, body any) *apitest.Response {
	t.Helper()
	return c.Do(withKey(t, http.MethodPost, "/test/idem/"+id, token, key, body))
}

func runOf(t *testing.T, res *apitest.Response) int64 {
	t.Helper()
	var v struct {
		Run int64 `json:"run"`
	}
	res.JSON(&v)
	return v.Run
}

func TestIdempotentReplay(t *testing.T) {
	db := storagetest.NewDB(t)
	h := newIdemHandler()
	c := idemEnv(t, db, time.Second, h)
	ok := idemRequest{Answer: 201, Note: "one"}

	first := idemCall(t, c, "a", shopperToken, "k1", ok).Want(201)
	again := idemCall(t, c, "a", shopperToken, "k1", ok).Want(201)
	if runOf(t, first) != 1 || runOf(t, again) != 1 || h.runs.Load() != 1 {
		t.Errorf("runs: first %d, again %d, handler %d", runOf(t, first), runOf(t, again), h.runs.Load())
	}
	if first.Header.Get(replayedHeader) != "" || again.Header.Get(replayedHeader) != "true" {
		t.Errorf("replay header: first %q, again %q", first.Header.Get(replayedHeader), again.Header.Get(replayedHeader))
	}
	if again.Header.Get("Location") != first.Header.Get("Location") || again.Header.Get("Content-Type") != "application/json" ||
		!bytes.Equal(again.Body, first.Body) {
		t.Errorf("replay differs: %v %s, first %v %s", again.Header, again.Body, first.Header, first.Body)
	}

	// The same JSON spaced otherwise is the same request.
	spaced := withKey(t, http.MethodPost, "/test/idem/a", shopperToken, "k1", "{\n  \"answer\": 201,\n  \"panic\": false,\n  \"block\": false,\n  \"note\": \"one\"\n}\n")
	spaced.Header.Set("Content-Type", "application/json")
	if res := c.Do(spaced).Want(201); res.Header.Get(replayedHeader) != "true" || !bytes.Equal(res.Body, first.Body) {
		t.Errorf("indented retry: replayed %q, body %s", res.Header.Get(replayedHeader), res.Body)
	}
	// Another body, another path: another request under the same key.
	wantCode(t, idemCall(t, c, "a", shopperToken, "k1", idemRequest{Answer: 201, Note: "two"}).Want(409), "idempotency_conflict", "")
	wantCode(t, idemCall(t, c, "b", shopperToken, "k1", ok).Want(409), "idempotency_conflict", "")
	// Keys are the caller's own.
	if n := runOf(t, idemCall(t, c, "a", brandToken, "k1", ok).Want(201)); n != 2 {
		t.Errorf("another caller's run %d", n)
	}
	if h.runs.Load() != 2 {
		t.Errorf("%d runs", h.runs.Load())
	}
}

// TestIdempotentFailuresAreNotKept: a 4xx, a 5xx or a panic leaves the key
// free, so the retry runs again (and may use another body).
func TestIdempotentFailuresAreNotKept(t *testing.T) {
	db := storagetest.NewDB(t)
	h := newIdemHandler()
	c := idemEnv(t, db, time.Second, h)
	for _, tt := range []struct {
		name   string
		req    idemRequest
		status int
	}{
		{"409", idemRequest{Answer: 409}, 409},
		{"500", idemRequest{Answer: 500}, 500},
		{"panic", idemRequest{Panic: true}, 500},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := "fail-" + tt.name
			before := h.runs.Load()
			for range 2 {
				res := idemCall(t, c, "a", shopperToken, key, tt.req).Want(tt.status)
				if res.Header.Get(replayedHeader) != "" {
					t.Errorf("a failure replayed")
				}
			}
			if got := h.runs.Load() - before; got != 2 {
				t.Errorf("%d runs for two tries", got)
			}
			// The key is free: another body succeeds under it.
			idemCall(t, c, "a", shopperToken, key, idemRequest{Answer: 201}).Want(201)
			var rows int64
			if err := db.Raw(`SELECT count(*) FROM idempotency_keys WHERE key = ? AND state = 'done'`, key).Scan(&rows).Error; err != nil || rows != 1 {
				t.Errorf("%d records (%v)", rows, err)
			}
		})
	}
}

// TestIdempotentInProgress: a retry while the first request runs either
// waits for its answer and replays it, or, past the store's wait, answers
// 409 with Retry-After.
func TestIdempotentInProgress(t *testing.T) {
	db := storagetest.NewDB(t)
	h := newIdemHandler()
	impatient := idemEnv(t, db, 20*time.Millisecond, h)
	patient := idemEnv(t, db, 10*time.Second, h)
	req := idemRequest{Answer: 201, Block: true}

	var wg sync.WaitGroup
	var first, waited *apitest.Response
	wg.Add(1)
	go func() {
		defer wg.Done()
		first = idemCall(t, impatient, "a", shopperToken, "slow", req)
	}()
	<-h.entered
	res := idemCall(t, impatient, "a", shopperToken, "slow", req).Want(409)
	wantCode(t, res, "idempotency_conflict", "")
	if res.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", res.Header.Get("Retry-After"))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		waited = idemCall(t, patient, "a", shopperToken, "slow", req)
	}()
	time.Sleep(50 * time.Millisecond) // let the patient retry start waiting; it passes either way
	close(h.release)
	wg.Wait()
	if first.Status != 201 || waited.Status != 201 || waited.Header.Get(replayedHeader) != "true" || !bytes.Equal(first.Body, waited.Body) {
		t.Errorf("first %d %s, waited %d %s %v", first.Status, first.Body, waited.Status, waited.Body, waited.Header)
	}
	if h.runs.Load() != 1 {
		t.Errorf("%d runs", h.runs.Load())
	}
}

func TestIdempotentBadRequests(t *testing.T) {
	db := storagetest.NewDB(t)
	h := newIdemHandler()
	c := idemEnv(t, db, time.Second, h)
	body := idemRequest{Answer: 201}
	for _, key := range []string{"", strings.Repeat("k", 256), "two words", "tab\tkey", "naïve"} {
		req := apitest.NewRequest(t, http.MethodPost, "/test/idem/a", shopperToken, body)
		if key != "" {
			req.Header.Set(idempotencyHeader, key)
		}
		wantCode(t, c.Do(req).Want(400), "validation_failed", idempotencyHeader)
	}
	req := apitest.NewRequest(t, http.MethodPost, "/test/idem/a", shopperToken, body)
	req.Header.Add(idempotencyHeader, "one")
	req.Header.Add(idempotencyHeader, "two")
	wantCode(t, c.Do(req).Want(400), "validation_failed", idempotencyHeader)

	// A body over 1 MiB without a Content-Length: 413 while reading.
	req = withKey(t, http.MethodPost, "/test/idem/a", shopperToken, "big", `{"note":"`+strings.Repeat("x", maxBodyBytes)+`"}`)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	wantCode(t, c.Do(req).Want(413), "payload_too_large", "")
	// Not JSON: the handler's 415, not kept.
	req = withKey(t, http.MethodPost, "/test/idem/a", shopperToken, "ctype", `{"answer":201}`)
	req.Header.Set("Content-Type", "text/plain")
	wantCode(t, c.Do(req).Want(415), "unsupported_media_type", "")
	idemCall(t, c, "a", shopperToken, "ctype", body).Want(201)
	var rows int64
	if err := db.Raw(`SELECT count(*) FROM idempotency_keys`).Scan(&rows).Error; err != nil || rows != 1 {
		t.Errorf("%d records (%v)", rows, err)
	}
}

func TestIdempotentWithoutStore(t *testing.T) {
	s := newServer(Deps{Auth: fakeAuth{}})
	doc := apitest.LoadSpec(t, OpenAPI())
	apitest.AddPaths(t, doc, idemPaths)
	h := newIdemHandler()
	c := apitest.New(t, s.engine([]route{{http.MethodPost, "/test/idem/:id", allow(party.Roles()...), s.idempotent(h.handle)}}), doc)
	idemCall(t, c, "a", shopperToken, "k", idemRequest{Answer: 201}).Want(500)
	if h.runs.Load() != 0 {
		t.Errorf("ran without a store")
	}
}

func TestReplayEncoding(t *testing.T) {
	rec := encodeReplay("application/json", "/v1/orders/ord_1", []byte(`{"id":"ord_1"}`+"\n"))
	ct, loc, body := decodeReplay(201, rec)
	if ct != "application/json" || loc != "/v1/orders/ord_1" || string(body) != `{"id":"ord_1"}`+"\n" {
		t.Errorf("round trip: %q %q %q", ct, loc, body)
	}
	// A record written by something else is a bare body.
	for status, want := range map[int]string{200: "application/json", 409: "application/problem+json"} {
		ct, loc, body := decodeReplay(status, []byte(`{"a":1}`))
		if ct != want || loc != "" || string(body) != `{"a":1}` {
			t.Errorf("foreign %d: %q %q %q", status, ct, loc, body)
		}
	}
}

// TestIdempotentTakeover: a request that outlives the store's lease is taken
// over by a retry. When the slow first request then fails, the retry's
// claim stays: a third try waits instead of running the request a third
// time, and the retry's answer is the one replayed.
func TestIdempotentTakeover(t *testing.T) {
	db := storagetest.NewDB(t)
	var runs atomic.Int64
	entered := make(chan int64, 3)
	release := []chan struct{}{make(chan struct{}), make(chan struct{})}
	handle := func(c *gin.Context) error {
		var req idemRequest
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		run := runs.Add(1)
		entered <- run
		if run <= int64(len(release)) {
			<-release[run-1]
		}
		if run == 1 {
			return errors.New("disk on fire")
		}
		return created(c, "/test/idem/a/runs/"+strconv.FormatInt(run, 10), map[string]int64{"run": run})
	}
	c := idemEnvWith(t, db, storage.IdempotencyConfig{Wait: 20 * time.Millisecond}, handle)
	req := idemRequest{Answer: 201}

	answers := make(chan *apitest.Response, 2)
	go func() { answers <- idemCall(t, c, "a", shopperToken, "slow", req) }()
	<-entered
	// The first request outlives the store's lease (a minute).
	if err := db.Exec(`UPDATE idempotency_keys SET updated_at = updated_at - interval '1 hour' WHERE key = 'slow'`).Error; err != nil {
		t.Fatal(err)
	}
	go func() { answers <- idemCall(t, c, "a", shopperToken, "slow", req) }() // takes the claim over
	if run := <-entered; run != 2 {
		t.Fatalf("the retry ran as run %d", run)
	}
	close(release[0])
	if first := <-answers; first.Status != 500 {
		t.Fatalf("first request answered %d, want its 500", first.Status)
	}
	// The first request's failure did not free the key under the retry.
	wantCode(t, idemCall(t, c, "a", shopperToken, "slow", req).Want(409), "idempotency_conflict", "")
	close(release[1])
	retry := <-answers
	if retry.Status != 201 || runOf(t, retry) != 2 {
		t.Fatalf("retry answered %d %s", retry.Status, retry.Body)
	}
	replay := idemCall(t, c, "a", shopperToken, "slow", req).Want(201)
	if replay.Header.Get(replayedHeader) != "true" || runOf(t, replay) != 2 || runs.Load() != 2 {
		t.Errorf("replay %s (%q), %d runs; want run 2 replayed and 2 runs", replay.Body, replay.Header.Get(replayedHeader), runs.Load())
	}
}
