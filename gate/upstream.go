package gate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// upstream is vLLM's API server and the transport that reaches it.
type upstream struct {
	scheme, host string // of outgoing URLs; a placeholder host for a unix socket
	display      string
	transport    *http.Transport
}

// parseUpstream reads "http://HOST:PORT", "https://HOST:PORT" or
// "unix:PATH". Every connection is bounded by dialTimeout; the transport
// never uses an HTTP proxy from the environment (the upstream is local)
// and never decompresses (bodies pass through as vLLM sent them).
func parseUpstream(s string, dialTimeout time.Duration) (*upstream, error) {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	if rest, ok := strings.CutPrefix(s, "unix:"); ok {
		path := rest
		if strings.HasPrefix(path, "//") { // unix:///run/vllm.sock
			path = path[2:]
		}
		if path == "" {
			return nil, fmt.Errorf("gate: upstream %q: no socket path", s)
		}
		t.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		}
		return &upstream{scheme: "http", host: "vllm.sock", display: "unix:" + path, transport: t}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("gate: upstream %q: %v", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("gate: upstream %q: want http://HOST:PORT, https://HOST:PORT or unix:PATH", s)
	case u.Host == "":
		return nil, fmt.Errorf("gate: upstream %q: no host", s)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.User != nil:
		return nil, fmt.Errorf("gate: upstream %q: give only scheme, host and port (vLLM's --root-path goes in RootPath)", s)
	}
	return &upstream{scheme: u.Scheme, host: u.Host, display: u.Scheme + "://" + u.Host, transport: t}, nil
}

// url returns the upstream URL of path.
func (u *upstream) url(path string) string {
	return u.scheme + "://" + u.host + path
}

// newProxy builds the reverse proxy every forwarded request goes through.
// It keeps the path and query as the client sent them (vLLM decodes them
// as the gate did) and drops hop-by-hop headers.
//
// Streams are never buffered: ReverseProxy flushes every write at once
// for text/event-stream and for any response without a Content-Length
// (chunked: NDJSON, a stream of unknown length). FlushInterval stays 0
// for the rest, responses whose whole length vLLM announced: -1 there
// would start a flush timer per response and cost a fifth of the gate's
// CPU, for bodies that are complete anyway.
func (g *Gate) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = g.up.scheme
			pr.Out.URL.Host = g.up.host
			pr.SetXForwarded()
		},
		Transport:      g.up.transport,
		BufferPool:     copyBuffers{},
		ModifyResponse: runResponseHook,
		ErrorHandler:   g.proxyError,
	}
}

// proxyError answers when the upstream could not be reached or did not
// answer in time.
func (g *Gate) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(r.Context().Err(), context.Canceled) {
		// The client went away (or the gate is stopping): nobody to
		// answer.
		g.log.Debug("request cancelled before vLLM answered", "method", r.Method, "path", strconv.Quote(r.URL.Path))
		return
	}
	g.metrics.upstreamErrors.WithLabelValues("proxy").Inc()
	if connRefused(err) {
		// vLLM is down or restarting: what it had loaded may be gone.
		g.names.invalidate()
	}
	g.log.Warn("upstream request failed", "method", r.Method, "path", strconv.Quote(r.URL.Path), "upstream", g.up.display, "error", err)
	ref := &refusal{status: http.StatusBadGateway, typ: typeBadGateway, msg: "modelgate could not get an answer from vLLM: " + err.Error()}
	if errors.Is(err, context.DeadlineExceeded) {
		ref.status = http.StatusGatewayTimeout
	}
	writeError(w, ref)
}

func connRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNRESET)
}

// responseHook runs on vLLM's answer to a forwarded request, before the
// client receives it: the gate learns there that a load or unload
// succeeded, so the client's next request already sees the new state.
type responseHook func(status int)

type hookKey struct{}

func withResponseHook(r *http.Request, f responseHook) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), hookKey{}, f))
}

func runResponseHook(resp *http.Response) error {
	if f, ok := resp.Request.Context().Value(hookKey{}).(responseHook); ok {
		f(resp.StatusCode)
	}
	return nil
}

// copyBuffers recycles the proxy's 32 KiB copy buffers.
type copyBuffers struct{}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (copyBuffers) Get() []byte  { return *bufPool.Get().(*[]byte) }
func (copyBuffers) Put(b []byte) { bufPool.Put(&b) }
