package main

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/modelgate/modelgate/gate"
	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/policy"
)

// gateFlags are the flags of the gate itself, shared by `modelgate proxy`
// and `modelgate exec --listen`. What the gate must know about vLLM
// (gateTarget) comes from flags for proxy and from vLLM's command line
// for exec.
type gateFlags struct {
	adminListen, mode string
	maxBody           int64
	maxVerifications  int
	drainTimeout      time.Duration
	allowWebSocket    bool
}

// gateFlagNames are the flags gateFlags.register defines.
var gateFlagNames = []string{"admin-listen", "mode", "max-body-size", "max-verifications", "drain-timeout", "allow-websocket"}

// register defines the gate's flags on cmd, each help text starting with
// prefix.
func (f *gateFlags) register(cmd *cobra.Command, prefix string) {
	fl := cmd.Flags()
	fl.StringVar(&f.adminListen, "admin-listen", "", prefix+"address for the gate's /metrics, /healthz and /readyz: HOST:PORT or unix:PATH (default: none)")
	fl.StringVar(&f.mode, "mode", string(gate.Enforce), prefix+"enforce (refuse what the policy denies) or warn (forward it, log and count it)")
	fl.Int64Var(&f.maxBody, "max-body-size", gate.DefaultMaxBodyBytes, prefix+"largest request body the gate reads to find its model, in bytes")
	fl.IntVar(&f.maxVerifications, "max-verifications", 0, prefix+"verifications running at once (default: the number of CPUs)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", gate.DefaultDrainTimeout, prefix+"how long requests in flight may run on after SIGTERM")
	fl.BoolVar(&f.allowWebSocket, "allow-websocket", false, prefix+"forward WebSocket upgrades (vLLM's /v1/realtime), whose messages the gate cannot read")
	completeValues(cmd, "mode", string(gate.Enforce), string(gate.Warn))
}

// check refuses values the gate cannot run with (exit 2).
func (f *gateFlags) check() error {
	if f.mode != string(gate.Enforce) && f.mode != string(gate.Warn) {
		return usageError("--mode %q: want enforce or warn", f.mode)
	}
	if f.maxBody <= 0 || f.maxVerifications < 0 || f.drainTimeout <= 0 {
		return usageError("--max-body-size and --drain-timeout must be positive, --max-verifications not negative")
	}
	return nil
}

// gateTarget is what the gate must know about the vLLM it stands in
// front of.
type gateTarget struct {
	upstream, workdir, home, resolverDir, rootPath string
	apiKeys                                        []string
	hub                                            hfcache.Root
	// startHeld: vLLM is not up yet (see gate.Config.StartHeld).
	startHeld bool
}

// newGate builds the gate: the security policy loaded with pol (and the
// app's logger; an invalid one is exit 2), reloaded on SIGHUP and when
// its file changes. A server needs
// longer than the default interrupt grace to drain: the gate gets its
// drain timeout, plus slack for the requests it then cancels.
func (a *app) newGate(policyFile string, pol policy.Options, f *gateFlags, t gateTarget) (*gate.Gate, error) {
	pol.Logger = a.logger
	g, err := gate.New(gate.Config{
		Upstream:         t.upstream,
		PolicyFile:       policyFile,
		PolicyOptions:    pol,
		Mode:             gate.Mode(f.mode),
		RootPath:         t.rootPath,
		UpstreamWorkDir:  t.workdir,
		UpstreamHome:     t.home,
		LoRAResolverDir:  t.resolverDir,
		APIKeys:          t.apiKeys,
		AllowUpgrade:     f.allowWebSocket,
		MaxBodyBytes:     f.maxBody,
		MaxVerifications: f.maxVerifications,
		DrainTimeout:     f.drainTimeout,
		WatchPolicy:      true,
		ReloadSignals:    []os.Signal{syscall.SIGHUP},
		StartHeld:        t.startHeld,
		Logger:           a.logger,
		HubCache:         t.hub,
	})
	if err != nil {
		var le *policy.LoadError
		if errors.As(err, &le) {
			return nil, usageError("invalid security policy (nothing was loaded):\n%v", err)
		}
		return nil, usageError("%v", err)
	}
	a.setInterruptGrace(f.drainTimeout + drainSlack)
	return g, nil
}

// drainSlack is what a draining gate may take beyond its drain timeout:
// cancelling the requests left, closing the admin listener.
const drainSlack = 10 * time.Second

// openGate builds the gate (newGate) and opens its listeners at listen
// and --admin-listen; on error nothing is left open.
func (a *app) openGate(policyFile string, pol policy.Options, f *gateFlags, listen string, t gateTarget) (*gateServer, error) {
	g, err := a.newGate(policyFile, pol, f, t)
	if err != nil {
		return nil, err
	}
	api, admin, err := f.listeners(listen)
	if err != nil {
		g.Close()
		return nil, err
	}
	return &gateServer{Gate: g, api: api, admin: admin}, nil
}

// gateServer is a gate with its listeners open.
type gateServer struct {
	*gate.Gate
	api, admin net.Listener
}

// serve serves the gate on its listeners until ctx ends (gate.Serve).
func (s *gateServer) serve(ctx context.Context) error { return s.Serve(ctx, s.api, s.admin) }

// close closes what serve would have: the listeners and the gate.
func (s *gateServer) close() {
	closeListeners(s.api, s.admin)
	s.Close()
}

// closeListeners closes the gate's listeners when Serve will not.
func closeListeners(api, admin net.Listener) {
	api.Close()
	if admin != nil {
		admin.Close()
	}
}

// gateListeners opens the gate's API listener at listen and, when
// --admin-listen was given, its admin listener. On error nothing is left
// open.
func (f *gateFlags) listeners(listen string) (api, admin net.Listener, err error) {
	api, err = listenAt("--listen", listen)
	if err != nil {
		return nil, nil, err
	}
	if f.adminListen != "" {
		if admin, err = listenAt("--admin-listen", f.adminListen); err != nil {
			closeListeners(api, nil)
			return nil, nil, err
		}
	}
	return api, admin, nil
}

// listenAt opens HOST:PORT or unix:PATH.
func listenAt(flag, addr string) (net.Listener, error) {
	network, address := "tcp", addr
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, address = "unix", p
	}
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, usageError("%s %q: %v", flag, addr, err)
	}
	return l, nil
}

// gateHubRoot is the hub cache the gate decides adapters named by id in:
// dir (--hf-cache) or the one huggingface_hub would choose from lookup.
// Without one the gate runs without it (such adapters are then denied as
// not local) and says so. A variable modelgate will not interpret is
// refused when strict, else only said.
func (a *app) gateHubRoot(root hfcache.Root, err error, strict bool) (hfcache.Root, error) {
	var ee *hfcache.EnvError
	switch {
	case err == nil:
		return root, nil
	case strict && errors.As(err, &ee):
		return hfcache.Root{}, hubRootError(err)
	}
	a.logger.Warn("no Hugging Face cache: adapters named by Hugging Face id will be denied", "error", err.Error())
	return hfcache.Root{}, nil
}
