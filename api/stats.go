package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/report"
)

// streamStatsJSON is the contract's stream stats: the audience of the whole
// stream and the sales of the caller's scope.
type streamStatsJSON struct {
	StreamID      string      `json:"stream_id"`
	Scope         string      `json:"scope"`
	BrandID       *string     `json:"brand_id"`
	Viewers       int64       `json:"viewers"`
	PeakViewers   int64       `json:"peak_viewers"`
	UniqueViewers int64       `json:"unique_viewers"`
	Orders        int64       `json:"orders"`
	GMV           money.Money `json:"gmv"`
	Units         int64       `json:"units"`
	Buyers        int64       `json:"buyers"`
	Refunds       money.Money `json:"refunds"`
	Commission    money.Money `json:"commission"`
	Conversion    float64     `json:"conversion"`
	UpdatedAt     *time.Time  `json:"updated_at"`
}

// The scopes of stream stats: the whole stream, or one brand's items.
const (
	statsScopeStream = "stream"
	statsScopeBrand  = "brand"
)

func toStreamStatsJSON(s report.Stats) streamStatsJSON {
	out := streamStatsJSON{
		StreamID: s.StreamID, Scope: statsScopeStream,
		Viewers: s.Viewers, PeakViewers: s.PeakViewers, UniqueViewers: s.UniqueViewers,
		Orders: s.Orders, GMV: s.GMV, Units: s.Units, Buyers: s.Buyers, Refunds: s.Refunds, Commission: s.Commission,
		Conversion: s.Conversion, UpdatedAt: s.UpdatedAt,
	}
	if s.BrandID != "" {
		brand := s.BrandID
		out.Scope, out.BrandID = statsScopeBrand, &brand
	}
	return out
}

// streamStats answers GET /v1/streams/{id}/stats: the stream's creator, its
// agency and admins see the whole stream, a line-up brand its own items'
// sales; anyone else gets 404.
func (s *server) streamStats(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	st, err := s.stats.StreamStats(c.Request.Context(), principal(c), streamID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, toStreamStatsJSON(st))
}
