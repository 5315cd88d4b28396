package gate

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/modelgate/modelgate/policy"
)

// Reload loads the policy file again and puts it in force for the
// requests that start from now on. A policy that does not load leaves the
// one in force unchanged: the error says why, and is logged and counted
// (modelgate_gate_policy_reload_failures_total).
func (g *Gate) Reload() error { return g.reload("reload", false) }

// reload loads the policy file. With onlyIfChanged (file watching) a
// file whose contents are those of the last attempt is not loaded again:
// editors and config managers touch files without changing them, and an
// invalid file must not be reported again and again.
func (g *Gate) reload(trigger string, onlyIfChanged bool) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	hash, herr := fileHash(g.cfg.PolicyFile)
	if onlyIfChanged {
		if herr != nil {
			// Mid-replacement, or removed: the next event will tell.
			g.log.Debug("policy file not readable after a change; waiting for the next one", "policy", g.cfg.PolicyFile, "error", herr)
			return nil
		}
		if hash == g.lastHash {
			return nil
		}
	}
	if herr == nil {
		g.lastHash = hash
	}
	d, err := g.cfg.LoadPolicy(g.cfg.PolicyFile)
	if err == nil && d == nil {
		err = errors.New("the policy loader returned no policy")
	}
	if err != nil {
		if g.pol.Load() != nil {
			g.metrics.reloadFailures.Inc()
			g.log.Error("policy reload failed; the previous policy stays in force", "policy", g.cfg.PolicyFile, "trigger", trigger, "error", err)
		}
		return err
	}
	g.nextGen++
	g.pol.Store(&activePolicy{decider: d, gen: g.nextGen})
	g.metrics.reloads.Inc()
	g.metrics.policyLoaded.SetToCurrentTime()
	g.log.Info("policy in force", "policy", g.cfg.PolicyFile, "trigger", trigger, "generation", g.nextGen, "mode", string(g.cfg.Mode))
	return nil
}

// fileHash returns the SHA-256 of the file's contents (at most
// policy.MaxPolicySize bytes are read; a larger file does not load
// anyway).
func fileHash(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, policy.MaxPolicySize+1)); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// policyWatcher watches the policy file's directory, not the file: files
// are usually replaced (an editor's rename, a config manager's atomic
// write, Kubernetes' symlink swap), which ends a watch on the old inode.
type policyWatcher struct {
	w *fsnotify.Watcher
}

// newPolicyWatcher starts watching; the watch is in place when it returns.
func (g *Gate) newPolicyWatcher() (*policyWatcher, error) {
	abs, err := filepath.Abs(g.cfg.PolicyFile)
	if err != nil {
		return nil, fmt.Errorf("watch policy %s: %w", g.cfg.PolicyFile, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch policy %s: %w", g.cfg.PolicyFile, err)
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		return nil, fmt.Errorf("watch policy %s: %w", g.cfg.PolicyFile, err)
	}
	return &policyWatcher{w: w}, nil
}

// run reloads the policy once changes in its directory have settled for
// ReloadDebounce, until ctx ends.
func (pw *policyWatcher) run(ctx context.Context, g *Gate) {
	defer pw.w.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-pw.w.Events:
			if !ok {
				return
			}
			timer.Reset(g.cfg.ReloadDebounce)
		case err, ok := <-pw.w.Errors:
			if !ok {
				return
			}
			g.log.Warn("policy file watch error", "policy", g.cfg.PolicyFile, "error", err)
		case <-timer.C:
			_ = g.reload("file change", true)
		}
	}
}

// reloadOnSignals reloads the policy whenever a signal arrives on ch,
// until ctx ends.
func (g *Gate) reloadOnSignals(ctx context.Context, ch <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-ch:
			_ = g.reload("signal "+s.String(), false)
		}
	}
}

// notifySignals subscribes to the reload signals; stop unsubscribes.
func notifySignals(sigs []os.Signal) (ch chan os.Signal, stop func()) {
	ch = make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	return ch, func() { signal.Stop(ch) }
}
