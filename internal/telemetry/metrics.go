// Package telemetry is the product's observability: Prometheus metrics
// (served at /metrics) and OpenTelemetry tracing configured by the standard
// OTEL_* environment variables.
//
// Metrics live in a registry of their own (Metrics), fed by middleware and
// decorators that the composition root installs: HTTP, the GraphQL executor,
// the mail sender, the job queue and the database pools. Every label has a
// bounded set of values, whatever clients send.
//
// Tracing is off unless SetupTracing finds an exporter configured; off, the
// tracing middleware and the database wrapper are not installed at all.
package telemetry

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clinicemr/usermanager/internal/mail"
)

// namespace prefixes the product's own metric names.
const namespace = "usermanager"

// durationBuckets (seconds) span a fast query to the 15s operation time
// limit and beyond.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30}

// Metrics is the product's Prometheus registry and its instruments.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	operations          *prometheus.CounterVec
	operationDuration   *prometheus.HistogramVec
	activeSubscriptions prometheus.Gauge
	names               *nameSet

	jobFailures *prometheus.CounterVec
	mail        *prometheus.CounterVec
}

// NewMetrics returns a registry with the Go runtime and process collectors
// and the product's instruments.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests by route class (graphql, media, audit_export, health, metrics, other) and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Duration of HTTP requests by route class (WebSocket and event-stream requests excluded).",
			Buckets: durationBuckets,
		}, []string{"route"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "graphql_operations_total",
			Help: "GraphQL operations by name, type and outcome (ok, client_error, internal_error, unavailable, timeout).",
		}, []string{"operation", "type", "outcome"}),
		operationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "graphql_operation_duration_seconds",
			Help:    "Duration of GraphQL queries and mutations, from reading the request to the last part of the answer.",
			Buckets: durationBuckets,
		}, []string{"operation", "type"}),
		activeSubscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "graphql_active_subscriptions",
			Help: "GraphQL subscriptions currently streaming.",
		}),
		names: newNameSet(maxOperationNames),
		jobFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "job_failures_total",
			Help: "Failed job attempts (an error, a panic or a cancellation; snoozes excluded) by job kind.",
		}, []string{"kind"}),
		mail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "mail_total",
			Help: "Attempts to send an email by outcome (sent, failed); a failed attempt is retried by its job.",
		}, []string{"outcome"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration,
		m.operations, m.operationDuration, m.activeSubscriptions,
		m.jobFailures, m.mail,
	)
	// Series that exist from the start, so rates and alerts see zeros.
	m.mail.WithLabelValues("sent")
	m.mail.WithLabelValues("failed")
	return m
}

// Registry is the registry, for tests and for registering more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format. A collector
// that fails (the job queue's database query) is logged and left out; the
// other metrics are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		ErrorLog:            slogLogger{},
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

type slogLogger struct{}

func (slogLogger) Println(v ...any) { slog.Warn("metrics: " + strings.TrimSpace(fmt.Sprintln(v...))) }

// WatchDB exports the statistics of a connection pool (go_sql_* metrics
// with db_name=name: open, in use and idle connections, waits).
func (m *Metrics) WatchDB(name string, db *sql.DB) error {
	return m.reg.Register(collectors.NewDBStatsCollector(db, name))
}

// MailSender counts the messages s sends and fails to send.
func (m *Metrics) MailSender(s mail.Sender) mail.Sender {
	return &countingSender{next: s, sent: m.mail.WithLabelValues("sent"), failed: m.mail.WithLabelValues("failed")}
}

type countingSender struct {
	next         mail.Sender
	sent, failed prometheus.Counter
}

func (c *countingSender) Send(ctx context.Context, id string, msg mail.Message) error {
	err := c.next.Send(ctx, id, msg)
	if err != nil {
		c.failed.Inc()
	} else {
		c.sent.Inc()
	}
	return err
}

// HTTP counts requests and times them by route class. Put it outermost, so
// that it sees the status of every answer. A WebSocket upgrade counts with
// code 101; WebSocket and event-stream requests, which last as long as
// their connection, are not timed.
func (m *Metrics) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := RouteClass(r.URL.Path)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			code := sw.code
			if code == 0 {
				// Nothing written: net/http answers 200 (or the handler
				// panicked, and the connection is dropped).
				code = http.StatusOK
			}
			m.httpRequests.WithLabelValues(route, statusLabel(code)).Inc()
			if !sw.hijacked && !isStream(r) {
				m.httpDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

func isStream(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
		strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

// Route classes: the paths the server mounts (internal/server). The media
// and audit export prefixes are users.URLPrefix and audit.ExportPrefix
// (TestRouteClassesMatchServerPaths checks they stay equal).
const (
	mediaPrefix       = "/media/"
	auditExportPrefix = "/audit-export/"
)

// RouteClass is the bounded route label of a request path: graphql,
// media, audit_export, health, metrics or other.
func RouteClass(path string) string {
	switch {
	case path == "/graphql":
		return "graphql"
	case strings.HasPrefix(path, mediaPrefix):
		return "media"
	case strings.HasPrefix(path, auditExportPrefix):
		return "audit_export"
	case path == "/healthz" || path == "/readyz":
		return "health"
	case path == "/metrics":
		return "metrics"
	}
	return "other"
}

// routeTemplate is the http.route of a path ("" when none applies): never
// the signed part of a media URL.
func routeTemplate(path string) string {
	switch RouteClass(path) {
	case "graphql", "health", "metrics":
		return path
	case "media":
		return mediaPrefix + "*"
	case "audit_export":
		return auditExportPrefix + "*"
	}
	return ""
}

// statusWriter records the status of the answer. It passes flushing and
// hijacking (WebSocket upgrades) through, and Unwrap lets
// http.ResponseController reach the connection.
type statusWriter struct {
	http.ResponseWriter
	code     int
	hijacked bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps io.Copy's fast path (sendfile) for media downloads.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Hijack() (c net.Conn, rw *bufio.ReadWriter, err error) {
	c, rw, err = http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
		if w.code == 0 {
			w.code = http.StatusSwitchingProtocols
		}
	}
	return c, rw, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
