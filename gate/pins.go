package gate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/strictjson"
	"github.com/modelgate/modelgate/pindir"
)

// With a pin folder (Config.PolicyOptions.Pins), every adapter the policy
// verifies is copied as it verifies, and vLLM loads the copy: the gate
// rewrites the load request's lora_path (or src) to the copy's path, and
// holds the copy from the load until vLLM confirms its unload, because
// vLLM reads an adapter's files again whenever it brings the adapter back
// into its cache. See docs/vllm.md.

// heldCopies are the copies of the adapters vLLM has loaded through the
// gate, by adapter name.
type heldCopies struct {
	mu     sync.Mutex
	byName map[string]*pindir.Hold
}

// keep records that vLLM loaded name from h's copy, releasing the copy
// name was loaded from before (load_inplace replaces an adapter).
func (hc *heldCopies) keep(name string, h *pindir.Hold) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.byName == nil {
		hc.byName = map[string]*pindir.Hold{}
	}
	if old := hc.byName[name]; old != nil && old != h {
		old.Release()
	}
	hc.byName[name] = h
}

// release lets go of the copy name was loaded from, if any.
func (hc *heldCopies) release(name string) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if h := hc.byName[name]; h != nil {
		h.Release()
		delete(hc.byName, name)
	}
}

// releaseAll lets go of every copy, when the gate closes.
func (hc *heldCopies) releaseAll() {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for name, h := range hc.byName {
		h.Release()
		delete(hc.byName, name)
	}
}

// holdCopy claims the verified copy at pinned until the caller releases
// it or hands it to heldCopies.
func (g *Gate) holdCopy(pinned string) (*pindir.Hold, *refusal) {
	pins := g.cfg.PolicyOptions.Pins
	if pins == nil {
		return nil, &refusal{status: http.StatusInternalServerError, typ: typeInternal, reason: "pin",
			msg: fmt.Sprintf("modelgate: the decision names the verified copy %s, but the gate has no pin folder", strconv.Quote(pinned))}
	}
	h, err := pins.Hold(pinned)
	if err != nil {
		return nil, &refusal{status: http.StatusServiceUnavailable, typ: typeServiceUnavailable, reason: "pin",
			msg: fmt.Sprintf("modelgate could not hold the verified copy: %v; send the request again", err)}
	}
	return h, nil
}

// loadFromCopy points a load request at the verified copy pinned: it
// holds the copy and returns the body (or, for SageMaker's query form,
// changes r's query) with the adapter path (param: "lora_path" or "src")
// replaced, every other member as the client sent it.
func (g *Gate) loadFromCopy(r *http.Request, body []byte, param, pinned string) ([]byte, *pindir.Hold, *refusal) {
	h, ref := g.holdCopy(pinned)
	if ref != nil {
		return nil, nil, ref
	}
	if param == "src" && blank(body) {
		q := r.URL.Query() // checked by parseAdapterRequest
		q.Set("src", pinned)
		r.URL.RawQuery = q.Encode()
		return body, h, nil
	}
	out, err := withPath(body, param, pinned)
	if err != nil {
		h.Release()
		return nil, nil, badRequest("body", param, "modelgate: "+err.Error())
	}
	return out, h, nil
}

// withPath returns the load body (already read strictly) with the member
// key set to path, encoded again; it must still fit MaxLoadBody.
func withPath(body []byte, key, path string) ([]byte, error) {
	if !utf8.ValidString(path) {
		return nil, fmt.Errorf("the verified copy %s cannot be named in JSON (not UTF-8)", strconv.Quote(path))
	}
	v, err := strictjson.Parse(body)
	if err != nil || v.Kind != strictjson.Object {
		return nil, fmt.Errorf("the load request cannot be read again: %v", err)
	}
	out := strictjson.Encode(v.With(key, strictjson.NewString(path)))
	if len(out) > MaxLoadBody {
		return nil, fmt.Errorf("the load request, with %s pointing at the verified copy, is larger than %d bytes", strconv.Quote(key), MaxLoadBody)
	}
	return out, nil
}

// preload loads the adapter name into vLLM from its verified copy pinned,
// for a request that names an adapter vLLM's filesystem resolver would
// load from the resolver folder: the resolver reads the folder itself and
// cannot be pointed at a copy, so the gate loads the copy under that name
// first (POST /v1/load_lora_adapter, which vLLM offers with
// VLLM_ALLOW_RUNTIME_LORA_UPDATING) and vLLM then serves the request
// without asking its resolvers. Concurrent requests for one name share
// one load.
func (g *Gate) preload(ctx context.Context, name, pinned string) *refusal {
	ch := g.flight.DoChan("preload\x00"+name+"\x00"+pinned, func() (any, error) {
		return g.loadCopy(name, pinned), nil
	})
	select {
	case res := <-ch:
		ref, _ := res.Val.(*refusal)
		return ref
	case <-ctx.Done():
		return &refusal{status: http.StatusServiceUnavailable, typ: typeServiceUnavailable, param: "model", reason: "pin",
			msg: fmt.Sprintf("the request ended while the adapter %s was being loaded from its verified copy", strconv.Quote(name))}
	}
}

// maxLoadAnswer bounds vLLM's answer to the gate's own load request.
const maxLoadAnswer = 64 << 10

func (g *Gate) loadCopy(name, pinned string) *refusal {
	h, ref := g.holdCopy(pinned)
	if ref != nil {
		return ref
	}
	req := &strictjson.Value{Kind: strictjson.Object}
	req = req.With("lora_name", strictjson.NewString(name)).With("lora_path", strictjson.NewString(pinned))
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.LoadTimeout)
	defer cancel()
	status, answer, err := g.call(ctx, http.MethodPost, "/v1/load_lora_adapter", strictjson.Encode(req), maxLoadAnswer)
	if err == nil && status/100 != 2 {
		err = fmt.Errorf("status %d: %s", status, strings.TrimSpace(string(answer)))
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			err = fmt.Errorf("%w (with --pin-dir the gate loads resolver adapters itself, from their verified copy: start vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)", err)
		}
	}
	if err != nil {
		h.Release()
		g.metrics.upstreamErrors.WithLabelValues("load").Inc()
		ref := &refusal{status: http.StatusBadGateway, typ: typeBadGateway, param: "model", reason: "pin",
			msg: fmt.Sprintf("modelgate could not load the adapter %s from its verified copy %s: %v", strconv.Quote(name), strconv.Quote(pinned), err)}
		if errors.Is(err, context.DeadlineExceeded) {
			ref.status = http.StatusGatewayTimeout
		}
		return ref
	}
	g.copies.keep(name, h)
	g.names.add(name)
	g.refreshSoon()
	return nil
}
