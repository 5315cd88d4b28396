package gate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelgate/modelgate/pindir"
	"github.com/modelgate/modelgate/policy"
)

// AdapterHeader is the SageMaker header whose value replaces the body's
// model on /invocations (model_hosting_container_standards'
// inject_adapter_id, as vLLM registers it).
const AdapterHeader = "X-Amzn-SageMaker-Adapter-Identifier"

// serveAPI is the gate's API handler.
func (g *Gate) serveAPI(w http.ResponseWriter, r *http.Request) {
	if g.held.Load() {
		g.serveStarting(w, r)
		return
	}
	escaped := r.URL.EscapedPath()
	if err := checkPath(escaped, r.URL.Path); err != nil {
		g.refuse(w, r, badRequest("path", "", fmt.Sprintf("modelgate refuses the request path %s: %v", strconv.Quote(escaped), err)))
		return
	}
	rt := classify(r.URL.Path, g.cfg.RootPath)
	g.metrics.byRoute[rt.kind].Inc()
	if len(g.cfg.APIKeys) > 0 && r.Method != http.MethodOptions && guarded(rt.path) && !g.authorized(r) {
		// vLLM would answer the same; the gate answers first so that an
		// unauthenticated client cannot make it verify anything.
		g.metrics.refused.WithLabelValues("unauthorized").Inc()
		writeUnauthorized(w)
		return
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "h2c") {
		// curl --http2 asks for HTTP/2 over cleartext; neither the gate
		// nor vLLM speaks it, so the request goes on as HTTP/1.1.
		r.Header.Del("Upgrade")
		r.Header.Del("Http2-Settings")
	}
	if r.Header.Get("Upgrade") != "" && !g.cfg.AllowUpgrade {
		g.refuse(w, r, &refusal{status: http.StatusForbidden, typ: typePermissionDenied, reason: "upgrade",
			msg: "modelgate refuses protocol upgrades (WebSocket): it cannot read the messages, which can name a model for vLLM to load"})
		return
	}
	switch rt.kind {
	case routeDev:
		g.serveDev(w, r, rt)
	case routeLoad:
		g.serveLoad(w, r)
	case routeAdapters:
		g.serveAdapters(w, r)
	case routeUnload:
		g.serveUnload(w, r)
	case routeAdapterDelete:
		g.serveAdapterDelete(w, r, rt)
	default:
		g.serveInference(w, r, rt)
	}
}

// startingRetryAfter is the Retry-After of the answers while vLLM starts,
// in seconds: often enough to notice readiness soon, rarely enough not to
// matter.
const startingRetryAfter = "5"

// serveStarting answers while the gate is held (Config.StartHeld): vLLM
// is still loading, nothing may reach it yet. Every request gets 503, as
// vLLM's /health does while its engine is not running.
func (g *Gate) serveStarting(w http.ResponseWriter, r *http.Request) {
	g.metrics.refused.WithLabelValues("starting").Inc()
	g.log.Debug("request refused: vLLM is starting", "method", r.Method, "path", strconv.Quote(r.URL.Path))
	w.Header().Set("Retry-After", startingRetryAfter)
	writeError(w, &refusal{status: http.StatusServiceUnavailable, typ: typeServiceUnavailable, reason: "starting",
		msg: "vLLM is starting: modelgate serves its API once vLLM is healthy"})
}

// authorized reports whether r carries one of vLLM's API keys, compared
// as vLLM does (scheme "bearer" in any case, then the rest of the header).
func (g *Gate) authorized(r *http.Request) bool {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") {
		return false
	}
	got := sha256.Sum256([]byte(token))
	ok := 0
	for _, want := range g.keys {
		ok |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return ok == 1
}

// serveDev refuses vLLM's development routes.
func (g *Gate) serveDev(w http.ResponseWriter, r *http.Request, rt route) {
	ref := &refusal{status: http.StatusForbidden, typ: typePermissionDenied, reason: "dev-route",
		msg: fmt.Sprintf("modelgate refuses vLLM's development route %s: it changes weights or engine state outside the security policy", strconv.Quote(rt.path))}
	if g.refusePolicy(w, r, ref) {
		return
	}
	g.proxy.ServeHTTP(w, r)
}

// serveLoad handles POST /v1/load_lora_adapter.
func (g *Gate) serveLoad(w http.ResponseWriter, r *http.Request) {
	body, ok := g.controlBody(w, r, true)
	if !ok {
		return
	}
	req, err := parseLoadBody(body)
	if err != nil {
		g.refuse(w, r, badRequest("body", "", "modelgate: "+err.Error()))
		return
	}
	g.admitLoad(w, r, body, req, "lora_path")
}

// serveAdapters handles SageMaker's POST /adapters. SageMaker's handler
// reads the body as JSON whatever its Content-Type, so the gate does too.
func (g *Gate) serveAdapters(w http.ResponseWriter, r *http.Request) {
	body, ok := g.controlBody(w, r, false)
	if !ok {
		return
	}
	req, err := parseAdapterRequest(body, r.URL.RawQuery)
	if err != nil {
		g.refuse(w, r, badRequest("body", "", "modelgate: "+err.Error()))
		return
	}
	g.admitLoad(w, r, body, req, "src")
}

// controlBody reads the body of a load or unload request: POST only,
// application/json only when jsonOnly is set (vLLM's
// validate_json_request), at most MaxLoadBody. ok is false when the gate
// has answered the request itself.
func (g *Gate) controlBody(w http.ResponseWriter, r *http.Request, jsonOnly bool) (body []byte, ok bool) {
	if !g.method(w, r, http.MethodPost) {
		return nil, false
	}
	if jsonOnly {
		if ref := jsonMedia(r); ref != nil {
			g.refuse(w, r, ref)
			return nil, false
		}
	}
	body, ref := g.readBody(w, r, MaxLoadBody)
	if ref != nil {
		g.refuse(w, r, ref)
		return nil, false
	}
	return body, true
}

// admitLoad decides the adapter of a parsed load request and forwards the
// original body if it may load.
func (g *Gate) admitLoad(w http.ResponseWriter, r *http.Request, body []byte, req loadRequest, param string) {
	d := g.decideAdapter(r.Context(), g.policy(), req.path)
	attrs := []any{"name", strconv.Quote(req.name), "path", strconv.Quote(req.path), "canonical_path", strconv.Quote(d.CanonicalPath), "outcome", string(d.Outcome)}
	if !d.Allowed() {
		ref := &refusal{status: http.StatusForbidden, typ: typePermissionDenied, param: param, msg: d.Reason, reason: "policy"}
		if g.refusePolicy(w, r, ref, append(attrs, "code", string(d.Code))...) {
			return
		}
	} else {
		if d.PinnedPath != "" {
			attrs = append(attrs, "pinned_path", strconv.Quote(d.PinnedPath))
		}
		g.log.Info("LoRA load allowed", attrs...)
	}
	var hold *pindir.Hold
	if d.Allowed() && d.PinnedPath != "" {
		var ref *refusal
		if body, hold, ref = g.loadFromCopy(r, body, param, d.PinnedPath); ref != nil {
			g.refuse(w, r, ref)
			return
		}
	}
	kept := false
	r = replayBody(r, body)
	r = withResponseHook(r, func(status int) {
		if status/100 == 2 {
			g.names.add(req.name)
			if hold != nil {
				g.copies.keep(req.name, hold)
				kept = true
			}
			g.refreshSoon()
		}
	})
	g.forward(w, r, g.cfg.LoadTimeout)
	if hold != nil && !kept {
		hold.Release()
	}
}

// serveUnload handles POST /v1/unload_lora_adapter: forwarded, and the
// name forgotten once vLLM confirms.
func (g *Gate) serveUnload(w http.ResponseWriter, r *http.Request) {
	body, ok := g.controlBody(w, r, true)
	if !ok {
		return
	}
	name, err := parseUnloadBody(body)
	if err != nil {
		g.refuse(w, r, badRequest("body", "", "modelgate: "+err.Error()))
		return
	}
	g.forwardUnload(w, replayBody(r, body), name)
}

// serveAdapterDelete handles SageMaker's DELETE /adapters/NAME.
func (g *Gate) serveAdapterDelete(w http.ResponseWriter, r *http.Request, rt route) {
	if !g.method(w, r, http.MethodDelete) {
		return
	}
	g.forwardUnload(w, r, rt.name)
}

func (g *Gate) forwardUnload(w http.ResponseWriter, r *http.Request, name string) {
	r = withResponseHook(r, func(status int) {
		if status/100 == 2 {
			g.names.remove(name)
			g.copies.release(name)
			g.refreshSoon()
		}
	})
	g.forward(w, r, g.cfg.LoadTimeout)
}

// serveInference checks the model a request names, then forwards it.
// Requests without a body (GET, most of the API besides inference) are
// forwarded at once; bodies are read to find the model and replayed to
// vLLM byte for byte.
func (g *Gate) serveInference(w http.ResponseWriter, r *http.Request, rt route) {
	var names []string
	if rt.kind == routeInvocations {
		hv := r.Header.Values(AdapterHeader)
		if len(hv) > 1 {
			g.refuse(w, r, badRequest("body", "model", fmt.Sprintf("modelgate: the request has %d %s headers", len(hv), AdapterHeader)))
			return
		}
		if len(hv) == 1 && hv[0] != "" {
			if !ascii(hv[0]) {
				// Starlette decodes header values as Latin-1: raw
				// "é" would name "Ã©" to vLLM, "é" to the gate.
				g.refuse(w, r, badRequest("body", "model", fmt.Sprintf("modelgate: the %s header has a byte beyond ASCII, which vLLM would read as Latin-1: %s", AdapterHeader, strconv.Quote(hv[0]))))
				return
			}
			names = append(names, hv[0])
		}
	}
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	if !hasBody && len(names) == 0 {
		g.proxy.ServeHTTP(w, r)
		return
	}
	var body []byte
	if hasBody {
		var ref *refusal
		if body, ref = g.readBody(w, r, g.cfg.MaxBodyBytes); ref != nil {
			g.refuse(w, r, ref)
			return
		}
		found, err := findModels(r.Header.Get("Content-Type"), body)
		if err != nil {
			g.refuse(w, r, badRequest("body", "model", "modelgate: "+err.Error()))
			return
		}
		names = append(names, found...)
		r = replayBody(r, body)
	}
	ap := g.policy()
	var resolved []string
	for _, name := range names {
		res, ref := g.admitModel(r.Context(), ap, name)
		if ref != nil && g.refusePolicy(w, r, ref, "model", strconv.Quote(name)) {
			return
		}
		if res || ref != nil {
			resolved = append(resolved, name)
		}
	}
	if len(resolved) > 0 {
		// vLLM's resolver loads the adapter while answering: once it
		// answers 2xx, the name is served.
		r = withResponseHook(r, func(status int) {
			if status/100 == 2 {
				for _, n := range resolved {
					g.names.add(n)
				}
				g.refreshSoon()
			}
		})
	}
	g.proxy.ServeHTTP(w, r)
}

// admitModel decides whether a request naming model name may reach vLLM.
// resolved reports that vLLM's LoRA resolver will load it (allowed); ref
// is the refusal when it may not.
func (g *Gate) admitModel(ctx context.Context, ap *activePolicy, name string) (resolved bool, ref *refusal) {
	if name == "" {
		return false, nil // vLLM's default model
	}
	known, err := g.names.known(ctx, name)
	if err != nil {
		return false, &refusal{status: http.StatusServiceUnavailable, typ: typeServiceUnavailable, param: "model", reason: "names-unknown",
			msg: fmt.Sprintf("modelgate cannot tell whether vLLM serves the model %s: %v", strconv.Quote(name), err)}
	}
	if known {
		return false, nil
	}
	if g.cfg.LoRAResolverDir == "" {
		return false, notFound(name)
	}
	path, err := resolverPath(g.cfg.LoRAResolverDir, name)
	if err != nil {
		return false, &refusal{status: http.StatusForbidden, typ: typePermissionDenied, param: "model", reason: "policy", msg: "modelgate: " + err.Error()}
	}
	d := g.decide(ctx, ap, policy.LoRA, path)
	switch {
	case d.Allowed() && d.PinnedPath != "":
		g.log.Info("LoRA resolver load allowed, from the verified copy", "model", strconv.Quote(name), "path", strconv.Quote(path), "pinned_path", strconv.Quote(d.PinnedPath), "outcome", string(d.Outcome))
		return false, g.preload(ctx, name, d.PinnedPath)
	case d.Allowed():
		g.log.Info("LoRA resolver load allowed", "model", strconv.Quote(name), "path", strconv.Quote(path), "outcome", string(d.Outcome))
		return true, nil
	case d.Code == policy.CodeNotFound:
		return false, notFound(name)
	}
	return false, &refusal{status: http.StatusForbidden, typ: typePermissionDenied, param: "model", reason: "policy", msg: d.Reason}
}

// ascii reports whether s is ASCII only.
func ascii[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// notFound is vLLM's answer to a model it does not serve
// (OpenAIModelRegistry.check_model).
func notFound(name string) *refusal {
	return &refusal{status: http.StatusNotFound, typ: typeNotFound, param: "model", reason: "unknown-model",
		msg: fmt.Sprintf("The model `%s` does not exist.", name)}
}

// method lets want through, forwards OPTIONS (CORS preflight, which vLLM's
// middleware answers) and refuses anything else with 405: the gate never
// forwards a load route with a method it did not check.
func (g *Gate) method(w http.ResponseWriter, r *http.Request, want string) bool {
	switch r.Method {
	case want:
		return true
	case http.MethodOptions:
		g.proxy.ServeHTTP(w, r)
		return false
	}
	w.Header().Set("Allow", want)
	g.refuse(w, r, &refusal{status: http.StatusMethodNotAllowed, typ: typeMethodNotAllowed, reason: "method",
		msg: fmt.Sprintf("modelgate: %s %s is not allowed, use %s", r.Method, strconv.Quote(r.URL.Path), want)})
	return false
}

// jsonMedia refuses a body vLLM's validate_json_request would refuse:
// the media type must be application/json.
func jsonMedia(r *http.Request) *refusal {
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if media == "application/json" {
		return nil
	}
	return &refusal{status: http.StatusUnsupportedMediaType, typ: typeUnsupportedMedia, reason: "media-type",
		msg: "Unsupported Media Type: Only 'application/json' is allowed"}
}

// maxPrealloc bounds the buffer readBody sets aside for a body before
// its bytes arrive: a Content-Length costs the client nothing to announce.
const maxPrealloc = 1 << 20

// readBody reads a body the gate must inspect, at most limit bytes and
// within BodyReadTimeout. A body of announced length up to maxPrealloc is
// read into a buffer of exactly that size (plus the byte that shows
// nothing follows), once: this is on the path of every inference request.
// A longer one grows its buffer as its bytes arrive.
func (g *Gate) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *refusal) {
	tooLarge := func() *refusal {
		return &refusal{status: http.StatusRequestEntityTooLarge, typ: typeTooLarge, reason: "too-large",
			msg: fmt.Sprintf("modelgate: the request body is larger than %d bytes", limit)}
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(g.cfg.BodyReadTimeout))
	defer rc.SetReadDeadline(time.Time{})
	var body []byte
	var err error
	if r.ContentLength > 0 && r.ContentLength < maxPrealloc {
		body = make([]byte, r.ContentLength+1)
		var n int
		n, err = io.ReadFull(r.Body, body)
		if int64(n) == r.ContentLength && err == io.ErrUnexpectedEOF {
			err = nil // the usual end: all of it, and nothing more
		}
		body = body[:n]
	} else {
		var buf bytes.Buffer
		buf.Grow(int(min(r.ContentLength+1, maxPrealloc)))
		_, err = buf.ReadFrom(io.LimitReader(r.Body, limit+1))
		body = buf.Bytes()
	}
	if err != nil {
		return nil, badRequest("body", "", fmt.Sprintf("modelgate: cannot read the request body: %v", err))
	}
	if int64(len(body)) > limit {
		return nil, tooLarge()
	}
	return body, nil
}

// replayBody makes the bytes read the request's body again, for vLLM.
func replayBody(r *http.Request, body []byte) *http.Request {
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	if len(body) == 0 {
		r.Body, r.GetBody = http.NoBody, nil
		return r
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return r
}

// forward sends r to vLLM, bounding the wait for its answer by timeout.
func (g *Gate) forward(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	g.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// refuse answers ref instead of forwarding.
func (g *Gate) refuse(w http.ResponseWriter, r *http.Request, ref *refusal, attrs ...any) {
	g.metrics.refused.WithLabelValues(ref.reason).Inc()
	g.log.Warn("request refused", append([]any{"method", r.Method, "path", strconv.Quote(r.URL.Path), "status", ref.status, "reason", ref.reason, "message", ref.msg}, attrs...)...)
	writeError(w, ref)
}

// refusePolicy answers a refusal the policy calls for: in enforce mode it
// is written (true); in warn mode it is logged and counted and the caller
// forwards the request (false).
func (g *Gate) refusePolicy(w http.ResponseWriter, r *http.Request, ref *refusal, attrs ...any) bool {
	if g.cfg.Mode == Warn {
		g.metrics.wouldDeny.WithLabelValues(ref.reason).Inc()
		g.log.Warn("warn mode: forwarding a request enforce mode would refuse", append([]any{"method", r.Method, "path", strconv.Quote(r.URL.Path), "status", ref.status, "reason", ref.reason, "message", ref.msg}, attrs...)...)
		return false
	}
	g.refuse(w, r, ref, attrs...)
	return true
}

// refreshSoon relearns the served names in the background after a load
// or unload, to replace what the gate assumed with what vLLM says.
func (g *Gate) refreshSoon() {
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		if err := g.names.refresh(g.ctx); err != nil && g.ctx.Err() == nil {
			g.log.Warn("relearning the served model names failed", "error", err)
		}
	}()
}
