package streaming

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus instruments of the relay and the consumers. A
// nil *Metrics records nothing.
type Metrics struct {
	reg             prometheus.Registerer
	relayOnce       sync.Once
	outboxBacklog   prometheus.Gauge
	relayLag        prometheus.Gauge
	published       *prometheus.CounterVec
	publishErrors   prometheus.Counter
	consumerLag     *prometheus.GaugeVec
	consumed        *prometheus.CounterVec
	duplicates      *prometheus.CounterVec
	poison          *prometheus.CounterVec
	handlerFailures *prometheus.CounterVec
}

// NewMetrics creates the instruments and registers the consumers' with reg
// (when reg is not nil): daihuo_consumer_lag{group},
// daihuo_events_consumed_total{group}, daihuo_events_duplicate_total{group},
// daihuo_events_poison_total{group} and
// daihuo_consumer_handler_errors_total{group}. Every member of a group reports
// the whole group's lag, so aggregate it with max by (group). The relay's
// (daihuo_outbox_backlog, daihuo_relay_lag_seconds,
// daihuo_events_published_total{topic}, daihuo_publish_errors_total) are
// registered by NewRelay, so a node that runs no relay does not report an
// outbox backlog of 0.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		outboxBacklog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "daihuo_outbox_backlog",
			Help: "Events written to the outbox and not yet published.",
		}),
		relayLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "daihuo_relay_lag_seconds",
			Help: "Age of the oldest unpublished outbox event (0 when none).",
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daihuo_events_published_total",
			Help: "Events the broker acknowledged, by topic.",
		}, []string{"topic"}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "daihuo_publish_errors_total",
			Help: "Outbox batches the relay failed to publish or mark sent.",
		}),
		consumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "daihuo_consumer_lag",
			Help: "Messages not yet committed by the consumer group, summed over its partitions.",
		}, []string{"group"}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daihuo_events_consumed_total",
			Help: "Events applied by the consumer group.",
		}, []string{"group"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daihuo_events_duplicate_total",
			Help: "Redelivered events the consumer group skipped because it had applied them already.",
		}, []string{"group"}),
		poison: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daihuo_events_poison_total",
			Help: "Messages the consumer group skipped because they are not valid CloudEvents.",
		}, []string{"group"}),
		handlerFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daihuo_consumer_handler_errors_total",
			Help: "Failed attempts to apply an event; the event is retried.",
		}, []string{"group"}),
	}
	if reg != nil {
		reg.MustRegister(m.consumerLag, m.consumed, m.duplicates, m.poison, m.handlerFailures)
	}
	return m
}

// exportRelay registers the relay's instruments, once.
func (m *Metrics) exportRelay() {
	if m == nil || m.reg == nil {
		return
	}
	m.relayOnce.Do(func() { m.reg.MustRegister(m.outboxBacklog, m.relayLag, m.published, m.publishErrors) })
}

func (m *Metrics) setBacklog(n int64, oldest time.Duration) {
	if m == nil {
		return
	}
	m.outboxBacklog.Set(float64(n))
	m.relayLag.Set(oldest.Seconds())
}

func (m *Metrics) addPublished(topic string, n int) {
	if m != nil {
		m.published.WithLabelValues(topic).Add(float64(n))
	}
}

func (m *Metrics) incPublishErrors() {
	if m != nil {
		m.publishErrors.Inc()
	}
}

func (m *Metrics) setConsumerLag(group string, lag int64) {
	if m != nil {
		m.consumerLag.WithLabelValues(group).Set(float64(lag))
	}
}

func (m *Metrics) incConsumed(group string) {
	if m != nil {
		m.consumed.WithLabelValues(group).Inc()
	}
}

func (m *Metrics) incDuplicate(group string) {
	if m != nil {
		m.duplicates.WithLabelValues(group).Inc()
	}
}

func (m *Metrics) incPoison(group string) {
	if m != nil {
		m.poison.WithLabelValues(group).Inc()
	}
}

func (m *Metrics) incHandlerFailure(group string) {
	if m != nil {
		m.handlerFailures.WithLabelValues(group).Inc()
	}
}
