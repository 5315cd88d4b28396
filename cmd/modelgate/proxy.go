package main

import (
	"bufio"
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

// proxyFlags are the flags of `modelgate proxy`.
type proxyFlags struct {
	policy, listen, adminListen, upstream string
	workdir, home, resolverDir, rootPath  string
	mode, tufCache, apiKeyFile, hfCache   string
	maxBody                               int64
	maxVerifications                      int
	drainTimeout                          time.Duration
	allowWebSocket                        bool
	cache                                 cacheFlags
	pins                                  pinFlags
}

func (a *app) proxyCommand() *cobra.Command {
	var f proxyFlags
	cmd := &cobra.Command{
		Use:   "proxy --security-policy P --listen ADDR --upstream URL|unix:PATH [flags]",
		Short: "Serve vLLM's API through a gate that decides every LoRA adapter before vLLM loads it",
		Long: `proxy stands in front of a running vLLM's API (spec/vllm.md §5). Load requests
(/v1/load_lora_adapter, SageMaker's /adapters), requests naming a model vLLM does not
serve (which its LoRA resolvers would load) and development routes are decided under
the security policy; denied requests get a 403 in vLLM's error shape and never reach
vLLM. Everything else passes through untouched, streams included.

vLLM must listen only where the gate can reach it (loopback or a unix socket). The
policy reloads on SIGHUP and when its file changes; SIGTERM drains and stops.
Exit codes: 0 after a clean stop, 2 for bad flags, an invalid policy or a listener
that cannot be opened.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runProxy(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.policy, "security-policy", "", "security policy JSON file (required)")
	fl.StringVar(&f.listen, "listen", "", "address to serve vLLM's API on: HOST:PORT or unix:PATH (required)")
	fl.StringVar(&f.upstream, "upstream", "", "vLLM's API: http://HOST:PORT or unix:PATH (required)")
	fl.StringVar(&f.adminListen, "admin-listen", "", "address for /metrics, /healthz and /readyz: HOST:PORT or unix:PATH (default: none)")
	fl.StringVar(&f.workdir, "upstream-workdir", "", "vLLM's working directory, for relative adapter paths (default: the gate's)")
	fl.StringVar(&f.home, "upstream-home", "", "vLLM's home directory, for adapter paths starting with ~ (default: such paths are refused)")
	fl.StringVar(&f.resolverDir, "lora-resolver-dir", "", "vLLM's filesystem LoRA resolver directory (VLLM_LORA_RESOLVER_CACHE_DIR); without it unknown model names get a 404")
	fl.StringVar(&f.rootPath, "root-path", "", "vLLM's --root-path")
	fl.StringVar(&f.hfCache, "hf-cache", "", "the Hugging Face hub cache vLLM loads adapters named by id from (default: as huggingface_hub chooses it from this process's environment)")
	completeDir(cmd, "hf-cache")
	fl.StringVar(&f.mode, "mode", "enforce", "enforce (refuse what the policy denies) or warn (forward it, log and count it)")
	fl.StringVar(&f.tufCache, "tuf-cache-dir", "", "TUF cache folder for Sigstore trusted roots (default: sigstore-go's, ~/.sigstore/root)")
	fl.StringVar(&f.apiKeyFile, "upstream-api-key-file", "", "file with vLLM's --api-key, one key per line (default: $VLLM_API_KEY)")
	fl.Int64Var(&f.maxBody, "max-body-size", gate.DefaultMaxBodyBytes, "largest request body read to find its model, in bytes")
	fl.IntVar(&f.maxVerifications, "max-verifications", 0, "verifications running at once (default: the number of CPUs)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", gate.DefaultDrainTimeout, "how long requests in flight may run on after SIGTERM")
	fl.BoolVar(&f.allowWebSocket, "allow-websocket", false, "forward WebSocket upgrades (vLLM's /v1/realtime), whose messages the gate cannot read")
	f.cache.register(cmd)
	f.pins.register(cmd)
	return cmd
}

func (a *app) runProxy(cmd *cobra.Command, f *proxyFlags) error {
	for _, req := range []struct{ name, value string }{{"--security-policy", f.policy}, {"--listen", f.listen}, {"--upstream", f.upstream}} {
		if req.value == "" {
			return usageError("%s is required", req.name)
		}
	}
	if f.mode != string(gate.Enforce) && f.mode != string(gate.Warn) {
		return usageError("--mode %q: want enforce or warn", f.mode)
	}
	if f.maxBody <= 0 || f.maxVerifications < 0 || f.drainTimeout <= 0 {
		return usageError("--max-body-size and --drain-timeout must be positive, --max-verifications not negative")
	}
	keys, err := apiKeys(f.apiKeyFile)
	if err != nil {
		return err
	}
	hub, err := a.proxyHubRoot(f.hfCache)
	if err != nil {
		return err
	}
	cache := a.openServerCache(&f.cache)
	pins, err := f.pins.open(a, cache)
	if err != nil {
		return err
	}
	g, err := gate.New(gate.Config{
		Upstream:         f.upstream,
		PolicyFile:       f.policy,
		PolicyOptions:    policy.Options{Logger: a.logger, TUFCacheDir: f.tufCache, Cache: cache, Pins: pins},
		Mode:             gate.Mode(f.mode),
		RootPath:         f.rootPath,
		UpstreamWorkDir:  f.workdir,
		UpstreamHome:     f.home,
		LoRAResolverDir:  f.resolverDir,
		APIKeys:          keys,
		AllowUpgrade:     f.allowWebSocket,
		MaxBodyBytes:     f.maxBody,
		MaxVerifications: f.maxVerifications,
		DrainTimeout:     f.drainTimeout,
		WatchPolicy:      true,
		ReloadSignals:    []os.Signal{syscall.SIGHUP},
		Logger:           a.logger,
		HubCache:         hub,
	})
	if err != nil {
		var le *policy.LoadError
		if errors.As(err, &le) {
			return usageError("invalid security policy (nothing was loaded):\n%v", err)
		}
		return usageError("%v", err)
	}
	defer g.Close()
	api, err := listen("--listen", f.listen)
	if err != nil {
		return err
	}
	var admin net.Listener
	if f.adminListen != "" {
		if admin, err = listen("--admin-listen", f.adminListen); err != nil {
			api.Close()
			return err
		}
	}
	if err := g.Serve(cmd.Context(), api, admin); err != nil {
		return failed(err)
	}
	return nil
}

// proxyHubRoot is the hub cache the gate decides adapters named by id in.
// Without --hf-cache and without a home directory or cache variable to
// find one, the gate runs without it (such adapters are then denied as not
// local) and says so; a variable modelgate will not interpret is refused.
func (a *app) proxyHubRoot(dir string) (hfcache.Root, error) {
	root, err := hubRoot(dir, os.LookupEnv)
	var ee *hfcache.EnvError
	switch {
	case err == nil:
		return root, nil
	case dir != "" || errors.As(err, &ee):
		return hfcache.Root{}, hubRootError(err)
	}
	a.logger.Warn("no Hugging Face cache: adapters named by Hugging Face id will be denied", "error", err.Error())
	return hfcache.Root{}, nil
}

// listen opens HOST:PORT or unix:PATH.
func listen(flag, addr string) (net.Listener, error) {
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

// apiKeys reads vLLM's API keys from file (one per line, blank lines
// ignored), or from $VLLM_API_KEY as vLLM does. Keys are never taken on
// the command line, where other users of the machine could read them.
func apiKeys(file string) ([]string, error) {
	if file == "" {
		if k := os.Getenv("VLLM_API_KEY"); k != "" {
			return []string{k}, nil
		}
		return nil, nil
	}
	fh, err := os.Open(file)
	if err != nil {
		return nil, usageError("--upstream-api-key-file: %v", err)
	}
	defer fh.Close()
	var keys []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if k := strings.TrimSpace(sc.Text()); k != "" {
			keys = append(keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, usageError("--upstream-api-key-file %s: %v", file, err)
	}
	if len(keys) == 0 {
		return nil, usageError("--upstream-api-key-file %s: no key in the file", file)
	}
	return keys, nil
}
