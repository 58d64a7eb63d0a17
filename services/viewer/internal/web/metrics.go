package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/svc"
)

// Login failure reasons (label values of sensornode_viewer_login_failures_total).
const (
	failPassword    = "password"     // unknown user or wrong password
	failRateLimited = "rate_limited" // refused before checking: too many failures
	failCSRF        = "csrf"         // login form without a matching CSRF token
)

// Metrics are the viewer's HTTP metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// NewMetrics creates the metrics on reg (nil: unregistered). sessions, when
// set, is exported as sensornode_viewer_sessions_active.
func NewMetrics(reg prometheus.Registerer, sessions func() float64) *Metrics {
	f := svc.NewMetricFactory(reg)
	if sessions != nil {
		f.GaugeFunc("sensornode_viewer_sessions_active",
			"Live login sessions (not expired, not logged out).", sessions)
	}
	return &Metrics{
		requests: f.CounterVec("sensornode_viewer_http_requests_total",
			"HTTP requests to the web listener, by route (the ServeMux pattern, \"other\" for none) and status code.",
			svc.Label("route"), svc.Label("code")),
		duration: f.HistogramVec("sensornode_viewer_http_request_duration_seconds",
			"Time to answer an HTTP request, by route.",
			prometheus.ExponentialBuckets(0.001, 2, 15), svc.Label("route")),
		bytes: f.CounterVec("sensornode_viewer_http_response_bytes_total",
			"Response body bytes sent, by route.", svc.Label("route")),
		failures: f.CounterVec("sensornode_viewer_login_failures_total",
			"Failed logins, by reason (password: unknown user or wrong password; rate_limited: refused, too many failures; csrf: missing or wrong form token).",
			svc.Label("reason", failPassword, failRateLimited, failCSRF)),
	}
}

// instrument counts route's requests, their duration and bytes.
func (m *Metrics) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &recorder{ResponseWriter: w}
		h.ServeHTTP(rw, r)
		code := rw.code
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		m.bytes.WithLabelValues(route).Add(float64(rw.n))
	})
}

// recorder notes the status code and the body bytes written.
type recorder struct {
	http.ResponseWriter
	code int
	n    int64
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
