package gate

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gate's own Prometheus metrics, on a private registry
// served by AdminHandler (vLLM's /metrics stays vLLM's).
type metrics struct {
	requests       *prometheus.CounterVec // by route
	byRoute        [routeDev + 1]prometheus.Counter
	decisions      *prometheus.CounterVec   // by kind, outcome
	refused        *prometheus.CounterVec   // by reason
	wouldDeny      *prometheus.CounterVec   // warn mode, by reason
	verifySeconds  *prometheus.HistogramVec // by kind
	verifying      prometheus.Gauge
	bytesHashed    prometheus.Counter
	reloads        prometheus.Counter
	reloadFailures prometheus.Counter
	policyLoaded   prometheus.Gauge
	upstreamErrors *prometheus.CounterVec // by call
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modelgate_gate_requests_total",
			Help: "Requests received, by route class (load_lora_adapter, adapters, unload_lora_adapter, adapters_delete, invocations, inference, dev, other).",
		}, []string{"route"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modelgate_gate_decisions_total",
			Help: "Policy decisions taken for requests, by artifact kind and outcome (verified, skipped, not-required, denied).",
		}, []string{"kind", "outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modelgate_gate_refused_requests_total",
			Help: "Requests the gate answered itself instead of forwarding, by reason (policy, unknown-model, dev-route, path, body, too-large, media-type, method, upgrade, unauthorized, names-unknown, starting, pin).",
		}, []string{"reason"}),
		wouldDeny: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modelgate_gate_warn_would_refuse_total",
			Help: "Warn mode: requests forwarded that enforce mode would have refused, by reason (policy, unknown-model, dev-route, names-unknown, pin).",
		}, []string{"reason"}),
		verifySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "modelgate_gate_verification_seconds",
			Help:    "Time taken by one policy decision (shared by concurrent requests for the same adapter), including hashing.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 11),
		}, []string{"kind"}),
		verifying: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "modelgate_gate_verifications_in_progress",
			Help: "Policy decisions running now (bounded by the verification pool).",
		}),
		bytesHashed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "modelgate_gate_hashed_bytes_total",
			Help: "Bytes hashed while verifying artifacts.",
		}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "modelgate_gate_policy_reloads_total",
			Help: "Policy loads that succeeded and took effect (the first load included).",
		}),
		reloadFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "modelgate_gate_policy_reload_failures_total",
			Help: "Policy reloads that failed; the previous policy stayed in force.",
		}),
		policyLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "modelgate_gate_policy_loaded_timestamp_seconds",
			Help: "Unix time at which the policy in force was loaded.",
		}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modelgate_gate_upstream_errors_total",
			Help: "Failed calls to vLLM, by call (proxy: a forwarded request; models: GET /v1/models; health: GET /health; load: the gate's own load of an adapter from its verified copy).",
		}, []string{"call"}),
	}
	reg.MustRegister(m.requests, m.decisions, m.refused, m.wouldDeny, m.verifySeconds, m.verifying,
		m.bytesHashed, m.reloads, m.reloadFailures, m.policyLoaded, m.upstreamErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Resolved once: every request counts, and a label lookup per
	// request would cost more than the rest of the gate's bookkeeping.
	for k := range m.byRoute {
		m.byRoute[k] = m.requests.WithLabelValues(routeKind(k).String())
	}
	return m
}
