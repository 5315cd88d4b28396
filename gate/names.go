package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// maxModelsResponse bounds vLLM's GET /v1/models answer.
const maxModelsResponse = 8 << 20

// modelNames are the model names vLLM serves: its base models and the
// adapters it has loaded, as GET /v1/models lists them. A request naming
// one of them goes through; any other name would make vLLM ask its LoRA
// resolvers to load an adapter.
//
// The set must never hold a name vLLM does not serve (the gate would then
// let a resolver load it unchecked), so it is learnt from vLLM, not kept
// by the gate alone: refreshed periodically and after every load and
// unload, dropped when vLLM stops answering, and relearnt on demand.
type modelNames struct {
	fetch       func(context.Context) ([]string, error)
	minInterval time.Duration

	mu        sync.Mutex
	set       map[string]struct{}
	learnt    bool      // set reflects vLLM
	lastFetch time.Time // start of the last successful fetch
	fetching  bool
	changes   []nameChange // made while a fetch was running, reapplied on its result

	flight singleflight.Group
}

type nameChange struct {
	name  string
	added bool
}

func newModelNames(fetch func(context.Context) ([]string, error), minInterval time.Duration) *modelNames {
	return &modelNames{fetch: fetch, minInterval: minInterval, set: map[string]struct{}{}}
}

// known reports whether vLLM serves name, refreshing the set first when
// it was never learnt or when name is missing and the last refresh is
// older than minInterval (so a flood of unknown names costs vLLM at most
// one listing per interval). The error is set when the names could not
// be learnt at all.
func (n *modelNames) known(ctx context.Context, name string) (bool, error) {
	n.mu.Lock()
	_, ok := n.set[name]
	learnt, stale := n.learnt, time.Since(n.lastFetch) >= n.minInterval
	n.mu.Unlock()
	if ok && learnt {
		return true, nil
	}
	if learnt && !stale {
		return false, nil
	}
	if err := n.refresh(ctx); err != nil {
		n.mu.Lock()
		learnt = n.learnt
		_, ok = n.set[name]
		n.mu.Unlock()
		if !learnt {
			return false, err
		}
		return ok, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok = n.set[name]
	return ok, nil
}

// refresh relearns the set from vLLM. Concurrent callers share one fetch;
// each waits only as long as its own ctx allows.
func (n *modelNames) refresh(ctx context.Context) error {
	ch := n.flight.DoChan("", func() (any, error) {
		n.mu.Lock()
		n.fetching, n.changes = true, nil
		started := time.Now()
		n.mu.Unlock()
		names, err := n.fetch(ctx)
		n.mu.Lock()
		defer n.mu.Unlock()
		n.fetching = false
		if err != nil {
			n.changes = nil
			return nil, err
		}
		set := make(map[string]struct{}, len(names))
		for _, s := range names {
			set[s] = struct{}{}
		}
		for _, c := range n.changes {
			if c.added {
				set[c.name] = struct{}{}
			} else {
				delete(set, c.name)
			}
		}
		n.set, n.learnt, n.lastFetch, n.changes = set, true, started, nil
		return nil, nil
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// add records that vLLM confirmed loading name.
func (n *modelNames) add(name string) { n.change(name, true) }

// remove records that vLLM confirmed unloading name.
func (n *modelNames) remove(name string) { n.change(name, false) }

func (n *modelNames) change(name string, added bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if added {
		n.set[name] = struct{}{}
	} else {
		delete(n.set, name)
	}
	if n.fetching {
		n.changes = append(n.changes, nameChange{name, added})
	}
}

// invalidate forgets the set: vLLM stopped answering and may come back
// without what it had loaded.
func (n *modelNames) invalidate() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.set, n.learnt, n.changes = map[string]struct{}{}, false, nil
}

// isLearnt reports whether the set reflects vLLM.
func (n *modelNames) isLearnt() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.learnt
}

// modelList is the part of vLLM's GET /v1/models answer the gate reads:
// {"object": "list", "data": [{"id": NAME, ...}, ...]}.
type modelList struct {
	Data []struct {
		ID string `json:"id"`
	} `json:"data"`
}

// fetchModels asks vLLM for the names it serves. It runs under the
// gate's own context (a shared fetch outlives the request that started
// it) bounded by ControlTimeout.
func (g *Gate) fetchModels(context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.ControlTimeout)
	defer cancel()
	body, err := g.control(ctx, "/v1/models", maxModelsResponse)
	if err != nil {
		g.metrics.upstreamErrors.WithLabelValues("models").Inc()
		return nil, fmt.Errorf("learn the served model names: %w", err)
	}
	var ml modelList
	if err := json.Unmarshal(body, &ml); err != nil {
		g.metrics.upstreamErrors.WithLabelValues("models").Inc()
		return nil, fmt.Errorf("learn the served model names: GET /v1/models is not a model list: %v", err)
	}
	names := make([]string, 0, len(ml.Data))
	for _, m := range ml.Data {
		names = append(names, m.ID)
	}
	return names, nil
}

// control makes one of the gate's own GET requests to vLLM and returns
// the body of a 200 answer, at most limit bytes.
func (g *Gate) control(ctx context.Context, path string, limit int64) ([]byte, error) {
	status, body, err := g.call(ctx, http.MethodGet, path, nil, limit)
	switch {
	case err != nil:
		return nil, err
	case status != http.StatusOK:
		return nil, fmt.Errorf("GET %s: status %d", path, status)
	}
	return body, nil
}

// call makes one of the gate's own requests to vLLM (with vLLM's API
// key; a JSON body when body is not nil) and returns the status and the
// answer's body, at most limit bytes. A 401 is an error that says to give
// the gate the key.
func (g *Gate) call(ctx context.Context, method, path string, body []byte, limit int64) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.up.url(path), rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(g.cfg.APIKeys) > 0 {
		req.Header.Set("Authorization", "Bearer "+g.cfg.APIKeys[0])
	}
	resp, err := g.up.transport.RoundTrip(req)
	if err != nil {
		if connRefused(err) {
			g.names.invalidate()
		}
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if int64(len(data)) > limit {
		return 0, nil, fmt.Errorf("%s %s: the answer is larger than %d bytes", method, path, limit)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return 0, nil, fmt.Errorf("%s %s: 401 Unauthorized (give the gate vLLM's API key)", method, path)
	}
	return resp.StatusCode, data, nil
}
