package main

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/policy"
)

// proxyFlags are the flags of `modelgate proxy`.
type proxyFlags struct {
	gate                                 gateFlags
	policy, listen, upstream             string
	workdir, home, resolverDir, rootPath string
	tufCache, apiKeyFile, hfCache        string
	cache                                cacheFlags
	pins                                 pinFlags
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
	f.gate.register(cmd, "")
	fl.StringVar(&f.workdir, "upstream-workdir", "", "vLLM's working directory, for relative adapter paths (default: the gate's)")
	fl.StringVar(&f.home, "upstream-home", "", "vLLM's home directory, for adapter paths starting with ~ (default: such paths are refused)")
	fl.StringVar(&f.resolverDir, "lora-resolver-dir", "", "vLLM's filesystem LoRA resolver directory (VLLM_LORA_RESOLVER_CACHE_DIR); without it unknown model names get a 404")
	fl.StringVar(&f.rootPath, "root-path", "", "vLLM's --root-path")
	fl.StringVar(&f.hfCache, "hf-cache", "", "the Hugging Face hub cache vLLM loads adapters named by id from (default: as huggingface_hub chooses it from this process's environment)")
	completeDir(cmd, "hf-cache")
	fl.StringVar(&f.tufCache, "tuf-cache-dir", "", "TUF cache folder for Sigstore trusted roots (default: sigstore-go's, ~/.sigstore/root)")
	fl.StringVar(&f.apiKeyFile, "upstream-api-key-file", "", "file with vLLM's --api-key, one key per line (default: $VLLM_API_KEY)")
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
	if err := f.gate.check(); err != nil {
		return err
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
	pol := policy.Options{TUFCacheDir: f.tufCache, Cache: cache, Pins: pins}
	s, err := a.openGate(f.policy, pol, &f.gate, f.listen, gateTarget{
		upstream: f.upstream, workdir: f.workdir, home: f.home, resolverDir: f.resolverDir, rootPath: f.rootPath,
		apiKeys: keys, hub: hub,
	})
	if err != nil {
		return err
	}
	if err := s.serve(cmd.Context()); err != nil {
		return failed(err)
	}
	return nil
}

// proxyHubRoot is the hub cache the gate decides adapters named by id in:
// --hf-cache, else the one this process's environment chooses. A cache
// that cannot be chosen from a variable, or a bad --hf-cache, is refused.
func (a *app) proxyHubRoot(dir string) (hfcache.Root, error) {
	root, err := hubRoot(dir, os.LookupEnv)
	if err != nil && dir != "" {
		return hfcache.Root{}, hubRootError(err)
	}
	return a.gateHubRoot(root, err, true)
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
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the file is named once, quoted
		}
		return nil, usageError("--upstream-api-key-file %q: %v", file, err)
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
		return nil, usageError("--upstream-api-key-file %q: %v", file, err)
	}
	if len(keys) == 0 {
		return nil, usageError("--upstream-api-key-file %q: no key in the file", file)
	}
	return keys, nil
}
