// Package gate is modelgate's HTTP gate in front of vLLM's API: it decides
// every LoRA adapter under the security policy before vLLM can load it,
// and passes everything else through untouched (spec/vllm.md §5).
//
// vLLM loads adapters while it runs, through four doors: POST
// /v1/load_lora_adapter, SageMaker's POST /adapters, and its LoRA
// resolvers, which load an adapter from disk whenever a request names a
// model vLLM does not know (SageMaker's /invocations names it in the
// X-Amzn-SageMaker-Adapter-Identifier header). The gate reads each of
// those requests strictly, resolves the adapter path as vLLM would,
// decides it with the policy and forwards the original bytes only when it
// is allowed; a denial is a 403 in vLLM's error shape and vLLM never sees
// the request. Requests naming an unknown model get vLLM's 404 (or, with a
// resolver directory, a decision on DIR/NAME). Development routes, which
// swap weights outside any policy, are refused.
//
// A Gate is built once with New and served with Serve (or mounted with
// Handler and AdminHandler); the policy can be replaced while it runs with
// Reload, and is reloaded on its own when its file changes or a configured
// signal arrives.
package gate

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/policy"
)

// Mode says what the gate does with a request the policy denies.
type Mode string

// The modes.
const (
	// Enforce refuses what the policy denies (the default).
	Enforce Mode = "enforce"
	// Warn forwards it, and logs and counts that enforce would have
	// refused it: the rollout mode, to see what a policy would break
	// before it does.
	Warn Mode = "warn"
)

// Decider decides artifacts, by path or by Hugging Face id;
// *policy.Policy is one. Tests wrap it to watch the gate's calls.
type Decider interface {
	Decide(ctx context.Context, kind policy.Kind, path string) policy.Decision
	DecideHub(ctx context.Context, kind policy.Kind, root hfcache.Root, id, revision string) policy.Decision
	Governs(kind policy.Kind) bool
}

// Defaults of the Config fields left zero.
const (
	DefaultMaxBodyBytes    = 32 << 20
	DefaultDecideTimeout   = 10 * time.Minute
	DefaultDialTimeout     = 5 * time.Second
	DefaultControlTimeout  = 10 * time.Second
	DefaultLoadTimeout     = 5 * time.Minute
	DefaultBodyReadTimeout = time.Minute
	DefaultDrainTimeout    = 30 * time.Second
	DefaultRefreshInterval = 5 * time.Second
	DefaultReloadDebounce  = 250 * time.Millisecond
)

// Config configures a Gate. Upstream and PolicyFile are required; every
// other zero value means its default.
type Config struct {
	// Upstream is vLLM's API server: "http://HOST:PORT" (or https) with no
	// path, or "unix:PATH" for a unix socket.
	Upstream string
	// PolicyFile is the security policy file. It is loaded by New and
	// again by Reload.
	PolicyFile string
	// PolicyOptions are passed to policy.Load; a nil Logger means Logger.
	// They are used again on every reload, so a digest cache in them
	// (hashcache.Memory) lives as long as the gate.
	PolicyOptions policy.Options
	// LoadPolicy loads the policy file; nil means policy.Load with
	// PolicyOptions.
	LoadPolicy func(path string) (Decider, error)
	// Mode is Enforce (default) or Warn.
	Mode Mode
	// RootPath is vLLM's --root-path: routes match with and without it.
	RootPath string
	// UpstreamWorkDir is vLLM's working directory, against which it
	// resolves relative adapter paths; "" means the gate's own.
	UpstreamWorkDir string
	// UpstreamHome is vLLM's home directory, for adapter paths starting
	// with "~"; "" refuses such paths.
	UpstreamHome string
	// LoRAResolverDir is vLLM's filesystem LoRA resolver directory
	// (VLLM_LORA_RESOLVER_CACHE_DIR); "" means no resolver may load
	// anything, so unknown model names get a 404.
	LoRAResolverDir string
	// HubCache is the Hugging Face hub cache vLLM loads adapters named by
	// id from (see hfcache.FindCacheRoot): such a lora_path is decided by
	// the policy's DecideHub there, at revision main, so that hf: keys
	// apply. A zero HubCache means hub ids are denied as not local.
	HubCache hfcache.Root
	// APIKeys are vLLM's --api-key values. The gate uses the first for
	// its own calls (GET /v1/models), and answers 401 itself, before any
	// verification work, to a request on a route vLLM protects that does
	// not carry one of them.
	APIKeys []string
	// AllowUpgrade forwards protocol upgrades (WebSocket: vLLM's
	// /v1/realtime). They are refused by default: the gate cannot read
	// the messages, which can name a model.
	AllowUpgrade bool
	// MaxBodyBytes bounds the request bodies the gate reads to find a
	// model name (default 32 MiB). Load requests are bounded by
	// MaxLoadBody.
	MaxBodyBytes int64
	// MaxVerifications bounds verifications running at once (default
	// GOMAXPROCS).
	MaxVerifications int
	// DecideTimeout bounds one verification (default 10 min).
	DecideTimeout time.Duration
	// DialTimeout bounds connecting to the upstream (default 5 s).
	DialTimeout time.Duration
	// ControlTimeout bounds the gate's own upstream calls, GET /v1/models
	// and GET /health (default 10 s).
	ControlTimeout time.Duration
	// LoadTimeout bounds a forwarded load or unload request until vLLM
	// answers (default 5 min). Other requests have no overall timeout:
	// a stream lasts as long as the client stays.
	LoadTimeout time.Duration
	// BodyReadTimeout bounds reading a request body the gate inspects
	// (default 1 min).
	BodyReadTimeout time.Duration
	// DrainTimeout bounds the graceful shutdown of Serve (default 30 s).
	DrainTimeout time.Duration
	// RefreshInterval is how often Serve relearns the served model names
	// (default 5 s).
	RefreshInterval time.Duration
	// WatchPolicy makes Serve reload the policy when its file changes.
	WatchPolicy bool
	// ReloadSignals make Serve reload the policy when one arrives (the
	// command passes SIGHUP).
	ReloadSignals []os.Signal
	// ReloadDebounce is how long file changes must settle before a
	// reload (default 250 ms).
	ReloadDebounce time.Duration
	// StartHeld makes the API answer every request with 503 (vLLM's error
	// shape, Retry-After) until Release is called, for a launcher that
	// opens the gate's listeners before vLLM has loaded its model
	// (modelgate exec --listen): the address is taken at once, so that a
	// conflict shows before minutes of loading, and clients and probes get
	// an answer that says to come back. The admin endpoints are served from
	// the start; /readyz says not ready while held.
	StartHeld bool
	// Logger receives the gate's records; nil means slog.Default().
	Logger *slog.Logger
}

// activePolicy is the policy in force. It is replaced as a whole on
// reload; a request uses the one it started with.
type activePolicy struct {
	decider Decider
	gen     uint64
}

// Gate is the HTTP gate. It is safe for concurrent use.
type Gate struct {
	cfg     Config
	log     *slog.Logger
	up      *upstream
	proxy   *httputil.ReverseProxy
	names   *modelNames
	metrics *metrics
	reg     *prometheus.Registry

	pol      atomic.Pointer[activePolicy]
	reloadMu sync.Mutex
	lastHash [sha256.Size]byte // of the last file the watcher tried
	nextGen  uint64

	keys [][sha256.Size]byte // SHA-256 of each API key, for authorized

	flight singleflight.Group
	sem    chan struct{}
	copies heldCopies // verified copies of the adapters loaded (pins.go)

	// ctx lives as long as the Gate: shared verifications and the gate's
	// own upstream calls run under it, not under one caller's request.
	ctx     context.Context
	cancel  context.CancelFunc
	bg      sync.WaitGroup // background refreshes started by requests
	serving atomic.Bool
	held    atomic.Bool // see Config.StartHeld

	// testHookWaitDecision, when set, runs as a request starts waiting
	// for a (possibly shared) decision.
	testHookWaitDecision func()
}

// New checks cfg, loads the policy and returns a gate ready to serve. A
// policy that does not load is an error (the command exits 2).
func New(cfg Config) (*Gate, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	up, err := parseUpstream(cfg.Upstream, cfg.DialTimeout)
	if err != nil {
		return nil, err
	}
	g := &Gate{
		cfg: cfg,
		log: cfg.Logger,
		up:  up,
		reg: prometheus.NewRegistry(),
		sem: make(chan struct{}, cfg.MaxVerifications),
	}
	for _, k := range cfg.APIKeys {
		g.keys = append(g.keys, sha256.Sum256([]byte(k)))
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.held.Store(cfg.StartHeld)
	g.metrics = newMetrics(g.reg)
	g.names = newModelNames(g.fetchModels, time.Second)
	g.proxy = g.newProxy()
	if err := g.reload("start", false); err != nil {
		g.cancel()
		return nil, err
	}
	return g, nil
}

func (c *Config) setDefaults() error {
	if c.Upstream == "" {
		return errors.New("gate: no upstream")
	}
	if c.PolicyFile == "" {
		return errors.New("gate: no policy file")
	}
	switch c.Mode {
	case "":
		c.Mode = Enforce
	case Enforce, Warn:
	default:
		return fmt.Errorf("gate: mode %q: want %q or %q", c.Mode, Enforce, Warn)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PolicyOptions.Logger == nil {
		c.PolicyOptions.Logger = c.Logger
	}
	if c.LoadPolicy == nil {
		opts := c.PolicyOptions
		c.LoadPolicy = func(path string) (Decider, error) { return policy.Load(path, opts) }
	}
	if c.RootPath != "" {
		if c.RootPath[0] != '/' || c.RootPath == "/" || c.RootPath[len(c.RootPath)-1] == '/' {
			return fmt.Errorf("gate: root path %q must start with / and not end with one", c.RootPath)
		}
		if err := checkPath(c.RootPath, c.RootPath); err != nil {
			return fmt.Errorf("gate: root path %q: %v", c.RootPath, err)
		}
	}
	var err error
	if c.UpstreamWorkDir, err = absDir("upstream working directory", c.UpstreamWorkDir, true); err != nil {
		return err
	}
	if c.UpstreamHome, err = absDir("upstream home", c.UpstreamHome, false); err != nil {
		return err
	}
	if c.LoRAResolverDir, err = absDir("LoRA resolver directory", c.LoRAResolverDir, false); err != nil {
		return err
	}
	if c.HubCache.Dir != "" && !filepath.IsAbs(c.HubCache.Dir) {
		return fmt.Errorf("gate: hub cache %q is not an absolute path", c.HubCache.Dir)
	}
	for _, k := range c.APIKeys {
		if k == "" {
			return errors.New("gate: an API key is empty")
		}
	}
	setDefault(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.MaxVerifications, runtime.GOMAXPROCS(0))
	setDefault(&c.DecideTimeout, DefaultDecideTimeout)
	setDefault(&c.DialTimeout, DefaultDialTimeout)
	setDefault(&c.ControlTimeout, DefaultControlTimeout)
	setDefault(&c.LoadTimeout, DefaultLoadTimeout)
	setDefault(&c.BodyReadTimeout, DefaultBodyReadTimeout)
	setDefault(&c.DrainTimeout, DefaultDrainTimeout)
	setDefault(&c.RefreshInterval, DefaultRefreshInterval)
	setDefault(&c.ReloadDebounce, DefaultReloadDebounce)
	return nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// absDir makes a configured directory absolute and clean; "" stays ""
// unless cwdDefault, when it becomes the working directory.
func absDir(what, dir string, cwdDefault bool) (string, error) {
	if dir == "" && !cwdDefault {
		return "", nil
	}
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("gate: %s %q: %w", what, dir, err)
	}
	return abs, nil
}

// Handler returns the API handler: what clients reach instead of vLLM.
func (g *Gate) Handler() http.Handler { return http.HandlerFunc(g.serveAPI) }

// Release ends Config.StartHeld: from now on the API is served through
// the gate. The caller releases the gate once Ready reports vLLM healthy
// (and says so in its log). Releasing a gate that is not held does
// nothing.
func (g *Gate) Release() { g.held.Store(false) }

// Close stops the gate's shared work (verifications in flight are
// cancelled) and closes idle upstream connections. Serve calls it on
// return; call it when the gate was only used through Handler.
func (g *Gate) Close() error {
	g.cancel()
	g.copies.releaseAll()
	g.up.transport.CloseIdleConnections()
	return nil
}

// policy returns the policy in force.
func (g *Gate) policy() *activePolicy { return g.pol.Load() }
