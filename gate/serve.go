package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server timeouts for clients. There is no write timeout: a stream lasts
// as long as vLLM produces it and the client reads it.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 1 << 20
	// stragglerTimeout bounds the wait for handlers after the drain
	// timeout has cancelled them.
	stragglerTimeout = 5 * time.Second
)

// Serve serves the API on api and, when admin is not nil, the metrics and
// health endpoints on admin, until ctx ends or a listener fails. It also
// relearns vLLM's served model names every RefreshInterval, watches the
// policy file (WatchPolicy) and reloads on ReloadSignals.
//
// When ctx ends it stops accepting connections and lets the requests in
// flight finish, streams included, for at most DrainTimeout; then it
// cancels what is left. It returns once every goroutine it started has
// ended, with the listeners and the gate closed: Serve can be called once.
// The error is nil after a shutdown through ctx.
func (g *Gate) Serve(ctx context.Context, api, admin net.Listener) error {
	closeListeners := func() {
		api.Close()
		if admin != nil {
			admin.Close()
		}
	}
	if !g.serving.CompareAndSwap(false, true) {
		closeListeners()
		return errors.New("gate: Serve called twice")
	}
	defer g.Close()
	var watcher *policyWatcher
	if g.cfg.WatchPolicy {
		var err error
		if watcher, err = g.newPolicyWatcher(); err != nil {
			closeListeners()
			return err
		}
	}
	var sigCh <-chan os.Signal
	if len(g.cfg.ReloadSignals) > 0 {
		ch, stop := notifySignals(g.cfg.ReloadSignals)
		defer stop()
		sigCh = ch
	}

	// Requests run under reqCtx, not ctx: the end of ctx starts the
	// drain, it must not cancel the requests being drained.
	reqCtx, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	var handlers sync.WaitGroup
	h := g.Handler()
	srv := g.newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		h.ServeHTTP(w, r)
	}), reqCtx)
	servers := []*http.Server{srv}
	listeners := []net.Listener{api}
	var adminSrv *http.Server
	if admin != nil {
		adminSrv = g.newServer(g.AdminHandler(), reqCtx)
		servers = append(servers, adminSrv)
		listeners = append(listeners, admin)
	}

	bgCtx, stopBG := context.WithCancel(ctx)
	defer stopBG()
	var bg sync.WaitGroup
	spawn := func(f func()) {
		bg.Add(1)
		go func() { defer bg.Done(); f() }()
	}
	spawn(func() { g.refreshLoop(bgCtx) })
	if watcher != nil {
		spawn(func() { watcher.run(bgCtx, g) })
	}
	if sigCh != nil {
		spawn(func() { g.reloadOnSignals(bgCtx, sigCh) })
	}

	errc := make(chan error, len(servers))
	for i := range servers {
		s, l := servers[i], listeners[i]
		go func() { errc <- s.Serve(l) }()
	}
	g.log.Info("gate serving", "listen", api.Addr().String(), "upstream", g.up.display, "mode", string(g.cfg.Mode), "policy", g.cfg.PolicyFile)

	var err error
	pending := len(servers)
	select {
	case <-ctx.Done():
	case err = <-errc:
		pending--
		err = fmt.Errorf("gate: serve: %w", err)
	}
	g.log.Info("gate stopping: draining requests in flight", "timeout", g.cfg.DrainTimeout.String())
	stopBG()
	g.drain(srv, &handlers, hardStop)
	if adminSrv != nil {
		actx, cancel := context.WithTimeout(context.Background(), time.Second)
		if adminSrv.Shutdown(actx) != nil {
			adminSrv.Close()
		}
		cancel()
	}
	for ; pending > 0; pending-- {
		if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = fmt.Errorf("gate: serve: %w", e)
		}
	}
	bg.Wait()
	g.cancel()
	g.bg.Wait()
	g.log.Info("gate stopped")
	return err
}

func (g *Gate) newServer(h http.Handler, base context.Context) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
}

// drain shuts srv down gracefully: no new connections, requests in
// flight (and upgraded connections, which Shutdown does not track) may
// finish within DrainTimeout; after it, everything left is cancelled.
func (g *Gate) drain(srv *http.Server, handlers *sync.WaitGroup, hardStop context.CancelFunc) {
	dctx, cancel := context.WithTimeout(context.Background(), g.cfg.DrainTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(dctx)
	done := make(chan struct{})
	go func() { handlers.Wait(); close(done) }()
	select {
	case <-done:
		if shutdownErr == nil {
			return
		}
	case <-dctx.Done():
	}
	g.log.Warn("drain timeout: cancelling the requests still in flight", "timeout", g.cfg.DrainTimeout.String())
	hardStop()
	srv.Close()
	select {
	case <-done:
	case <-time.After(stragglerTimeout):
		g.log.Error("requests still running after cancellation")
	}
}

// refreshLoop relearns the served model names now and every
// RefreshInterval, until ctx ends. While the gate is held (vLLM is still
// loading) it does not ask: Ready learns them when vLLM is up.
func (g *Gate) refreshLoop(ctx context.Context) {
	t := time.NewTicker(g.cfg.RefreshInterval)
	defer t.Stop()
	failing := false
	for {
		if !g.held.Load() {
			err := g.names.refresh(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil && !failing:
				g.log.Warn("cannot learn vLLM's served model names; requests naming a model wait for it", "upstream", g.up.display, "error", err)
			case err == nil && failing:
				g.log.Info("learnt vLLM's served model names", "upstream", g.up.display)
			}
			failing = err != nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// AdminHandler returns the admin endpoints, for a listener separate from
// the API (vLLM has its own /metrics and /health there):
//
//	GET /metrics  the gate's Prometheus metrics
//	GET /healthz  200 while the process runs
//	GET /readyz   200 when a policy is in force, vLLM answers GET /health
//	              and the served model names are known (and the gate is
//	              not held, see Config.StartHeld); else 503 and why
func (g *Gate) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", g.serveReady)
	return mux
}

func (g *Gate) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if g.held.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: vLLM is starting\n"))
		return
	}
	if err := g.Ready(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Ready reports whether the gate can serve: a policy is in force, vLLM
// answers GET /health and its served model names are known. The error
// says what is missing. It waits at most ControlTimeout (or until ctx
// ends); a caller that starts vLLM polls it before sending traffic.
func (g *Gate) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.ControlTimeout)
	defer cancel()
	var problems []string
	if g.policy() == nil {
		problems = append(problems, "no policy in force")
	}
	if _, err := g.control(ctx, "/health", 1<<16); err != nil {
		if !g.held.Load() {
			// While held, vLLM is still loading: not answering is
			// expected, not an upstream error.
			g.metrics.upstreamErrors.WithLabelValues("health").Inc()
		}
		problems = append(problems, "vLLM is not healthy: "+err.Error())
	} else if !g.names.isLearnt() {
		if err := g.names.refresh(ctx); err != nil {
			problems = append(problems, "vLLM's served model names are not known: "+err.Error())
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
