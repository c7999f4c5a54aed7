package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
)

// openAPIYAML is the HTTP contract served on /openapi.yaml and kept true by
// the tests.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPI returns the OpenAPI 3.1 document of the api (YAML).
func OpenAPI() []byte { return append([]byte(nil), openAPIYAML...) }

// healthz answers 200 while the process serves requests.
func (s *server) healthz(c *gin.Context) error {
	return reply(c, http.StatusOK, map[string]string{"status": "ok"})
}

// readyBody is the reply of /readyz.
type readyBody struct {
	Status string            `json:"status"` // ok or unavailable
	Checks map[string]string `json:"checks"` // name → ok or failed
}

// readyz runs every Checker at once, each within the ready timeout, and
// answers 200 when all pass, else 503 naming the failed ones (the reasons
// go to the log, not to the public).
func (s *server) readyz(c *gin.Context) error {
	ctx := c.Request.Context()
	failed := make([]error, len(s.ready))
	var wg sync.WaitGroup
	for i, ch := range s.ready {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, s.readyTimeout)
			defer cancel()
			failed[i] = ch.Check(cctx)
		})
	}
	wg.Wait()
	body := readyBody{Status: "ok", Checks: make(map[string]string, len(s.ready))}
	status := http.StatusOK
	for i, ch := range s.ready {
		body.Checks[ch.Name()] = "ok"
		if failed[i] != nil {
			body.Checks[ch.Name()] = "failed"
			body.Status, status = "unavailable", http.StatusServiceUnavailable
			s.log.WarnContext(ctx, "readiness check failed", slog.String("check", ch.Name()), slog.String("error", failed[i].Error()))
		}
	}
	return reply(c, status, body)
}

// metricsHandler serves the registry in the Prometheus text format.
func (s *server) metricsHandler(c *gin.Context) error {
	s.metricsHTTP.ServeHTTP(c.Writer, c.Request)
	return nil
}

// openAPI serves the embedded OpenAPI document.
func (s *server) openAPI(c *gin.Context) error {
	c.Data(http.StatusOK, "application/yaml", openAPIYAML)
	return nil
}
