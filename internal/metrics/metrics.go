// Package metrics holds the product's Prometheus metrics and bridges the Temporal SDK's
// metrics into the same registry, so one /metrics endpoint serves both.
package metrics

import (
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
)

// Metrics are the product's own counters and gauges.
type Metrics struct {
	Registry *prometheus.Registry

	Passes          *prometheus.CounterVec // result: applied, unchanged, error
	Writes          *prometheus.CounterVec // side: ghl, rz
	Conflicts       prometheus.Counter
	Echoes          *prometheus.CounterVec // source: ghl, rz
	RateLimited     *prometheus.CounterVec // side: 429s surfaced to activities
	WebhookReceived *prometheus.CounterVec // type
	WebhookRejected *prometheus.CounterVec // reason
	WebhookDupes    prometheus.Counter
	RelayLag        prometheus.Gauge // seconds: oldest pending inbox event
	InboxDepth      prometheus.Gauge
	Signals         prometheus.Counter
}

// New creates the metrics in a fresh registry, with Go and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) prometheus.Collector { reg.MustRegister(c); return c }
	return &Metrics{
		Registry:        reg,
		Passes:          f(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hlrz_passes_total", Help: "Contact sync passes by result: applied (written), unchanged (nothing to write), error (a failed attempt; retried)."}, []string{"result"})).(*prometheus.CounterVec),
		Writes:          f(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hlrz_writes_total", Help: "Writes made to each side."}, []string{"side"})).(*prometheus.CounterVec),
		Conflicts:       f(prometheus.NewCounter(prometheus.CounterOpts{Name: "hlrz_conflicts_total", Help: "Fields changed on both sides since the base, resolved by policy."})).(prometheus.Counter),
		Echoes:          f(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hlrz_echoes_suppressed_total", Help: "Inbound changes recognised as our own writes and dropped."}, []string{"source"})).(*prometheus.CounterVec),
		RateLimited:     f(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hlrz_rate_limited_total", Help: "Activities that failed on a 429 and were rescheduled after the wait."}, []string{"side"})).(*prometheus.CounterVec),
		WebhookReceived: f(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hlrz_webhook_events_received_total", Help: "Verified webhook events accepted, by type."}, []string{"type"})).(*prometheus.CounterVec),
		WebhookRejected: f(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hlrz_webhook_events_rejected_total", Help: "Webhook deliveries rejected, by reason."}, []string{"reason"})).(*prometheus.CounterVec),
		WebhookDupes:    f(prometheus.NewCounter(prometheus.CounterOpts{Name: "hlrz_webhook_duplicates_total", Help: "Webhook deliveries whose webhookId was already stored."})).(prometheus.Counter),
		RelayLag:        f(prometheus.NewGauge(prometheus.GaugeOpts{Name: "hlrz_relay_lag_seconds", Help: "Age of the oldest pending inbox event."})).(prometheus.Gauge),
		InboxDepth:      f(prometheus.NewGauge(prometheus.GaugeOpts{Name: "hlrz_inbox_depth", Help: "Pending inbox events."})).(prometheus.Gauge),
		Signals:         f(prometheus.NewCounter(prometheus.CounterOpts{Name: "hlrz_signals_total", Help: "Signals sent to ContactSync workflows."})).(prometheus.Counter),
	}
}

// BudgetStats is one location's HighLevel rate budget, as internal/ghl reports it.
type BudgetStats struct {
	Requests, Waits, RateLimited int64
	WaitSeconds                  float64
	DailyUsed                    int64
}

// WatchBudgets exports the HighLevel rate budgets, read at scrape time: requests sent, how
// many waited for budget and for how long, 429s received, and the day's use.
func (m *Metrics) WatchBudgets(stats func() map[string]BudgetStats) {
	m.Registry.MustRegister(budgetCollector{stats})
}

var (
	budgetRequests = prometheus.NewDesc("hlrz_ghl_requests_total", "HighLevel requests sent, per location.", []string{"location"}, nil)
	budgetWaits    = prometheus.NewDesc("hlrz_rate_budget_waits_total", "HighLevel requests that waited for rate budget before being sent.", []string{"location"}, nil)
	budgetWaitSecs = prometheus.NewDesc("hlrz_rate_budget_wait_seconds_total", "Time spent waiting for HighLevel rate budget.", []string{"location"}, nil)
	budget429s     = prometheus.NewDesc("hlrz_ghl_rate_limited_total", "HTTP 429 answers from HighLevel.", []string{"location"}, nil)
	budgetDaily    = prometheus.NewDesc("hlrz_ghl_daily_used", "HighLevel requests counted against today's allowance.", []string{"location"}, nil)
)

type budgetCollector struct{ stats func() map[string]BudgetStats }

func (c budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{budgetRequests, budgetWaits, budgetWaitSecs, budget429s, budgetDaily} {
		ch <- d
	}
}

func (c budgetCollector) Collect(ch chan<- prometheus.Metric) {
	for loc, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(budgetRequests, prometheus.CounterValue, float64(s.Requests), loc)
		ch <- prometheus.MustNewConstMetric(budgetWaits, prometheus.CounterValue, float64(s.Waits), loc)
		ch <- prometheus.MustNewConstMetric(budgetWaitSecs, prometheus.CounterValue, s.WaitSeconds, loc)
		ch <- prometheus.MustNewConstMetric(budget429s, prometheus.CounterValue, float64(s.RateLimited), loc)
		ch <- prometheus.MustNewConstMetric(budgetDaily, prometheus.GaugeValue, float64(s.DailyUsed), loc)
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// SDKHandler returns a Temporal SDK metrics handler reporting into the same registry, via
// tally's Prometheus reporter. The returned closer flushes and stops the reporting scope.
func (m *Metrics) SDKHandler() (client.MetricsHandler, io.Closer) {
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:      m.Registry,
		OnRegisterError: func(error) {}, // the SDK re-creates some metrics; a duplicate is harmless
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sanitize,
		Prefix:          "temporal",
	}, time.Second)
	return sdkHandler{scope}, closer
}

var sanitize = tally.SanitizeOptions{
	NameCharacters:       tally.ValidCharacters{Ranges: tally.AlphanumericRange, Characters: []rune{'_'}},
	KeyCharacters:        tally.ValidCharacters{Ranges: tally.AlphanumericRange, Characters: []rune{'_'}},
	ValueCharacters:      tally.ValidCharacters{Ranges: tally.AlphanumericRange, Characters: []rune{'_', '-', '.', '/'}},
	ReplacementCharacter: '_',
}

// sdkHandler adapts a tally scope to client.MetricsHandler.
type sdkHandler struct{ scope tally.Scope }

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	return sdkHandler{h.scope.Tagged(tags)}
}
func (h sdkHandler) Counter(name string) client.MetricsCounter { return counter{h.scope.Counter(name)} }
func (h sdkHandler) Gauge(name string) client.MetricsGauge     { return gauge{h.scope.Gauge(name)} }
func (h sdkHandler) Timer(name string) client.MetricsTimer     { return timer{h.scope.Timer(name)} }

type counter struct{ c tally.Counter }

func (c counter) Inc(d int64) { c.c.Inc(d) }

type gauge struct{ g tally.Gauge }

func (g gauge) Update(v float64) { g.g.Update(v) }

type timer struct{ t tally.Timer }

func (t timer) Record(d time.Duration) { t.t.Record(d) }
