package modelsig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/modelgate/modelgate/internal/safefile"
)

// Trusted root and client trust configuration media types. sigstore-go
// v1.3.0 parses all three trusted root spellings (same message) but only
// accepts the first one, so the others are normalized before parsing.
const (
	mediaTypeTrustedRoot01Legacy = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
	mediaTypeTrustedRoot01       = "application/vnd.dev.sigstore.trustedroot.v0.1+json"
	mediaTypeTrustedRoot02       = "application/vnd.dev.sigstore.trustedroot.v0.2+json"
	mediaTypeClientTrustConfig01 = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
)

// maxTrustConfigSize bounds trust configuration files and the TUF
// trusted_root.json target; real ones are about 10 KiB.
const maxTrustConfigSize = 4 << 20

// LoadTrustConfig reads a Sigstore TrustedRoot JSON file or a
// ClientTrustConfig JSON file (whose trustedRoot is used; its signing
// configuration is ignored, as when the reference library verifies). The
// file's mediaType says which it is.
func LoadTrustConfig(path string) (root.TrustedMaterial, error) {
	data, err := safefile.ReadFile(path, maxTrustConfigSize)
	if err != nil {
		return nil, fmt.Errorf("read trust config: %w", err)
	}
	tr, err := parseTrustConfig(data)
	if err != nil {
		return nil, fmt.Errorf("trust config %q: %w", path, err)
	}
	return tr, nil
}

// parseTrustConfig parses a TrustedRoot or a ClientTrustConfig document.
func parseTrustConfig(data []byte) (*root.TrustedRoot, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	var mediaType string
	if raw, ok := top["mediaType"]; !ok {
		return nil, errors.New("no mediaType; want a Sigstore TrustedRoot or ClientTrustConfig")
	} else if err := json.Unmarshal(raw, &mediaType); err != nil {
		return nil, fmt.Errorf("mediaType: %v", err)
	}
	switch mediaType {
	case mediaTypeTrustedRoot01Legacy, mediaTypeTrustedRoot01, mediaTypeTrustedRoot02:
		return parseTrustedRoot(data)
	case mediaTypeClientTrustConfig01:
		// protojson accepts both spellings of a field name.
		raw, ok := top["trustedRoot"]
		if alt, dup := top["trusted_root"]; dup {
			if ok {
				return nil, errors.New("both trustedRoot and trusted_root are present")
			}
			raw, ok = alt, true
		}
		if !ok {
			return nil, errors.New("ClientTrustConfig has no trustedRoot")
		}
		tr, err := parseTrustedRoot(raw)
		if err != nil {
			return nil, fmt.Errorf("trustedRoot: %w", err)
		}
		return tr, nil
	default:
		return nil, fmt.Errorf("unsupported mediaType %q; want a Sigstore TrustedRoot (%s) or ClientTrustConfig (%s)",
			mediaType, mediaTypeTrustedRoot01Legacy, mediaTypeClientTrustConfig01)
	}
}

// parseTrustedRoot parses a TrustedRoot document strictly (protojson, as
// sigstore-go does) and requires what the sigstore method cannot do
// without: a certificate authority and a transparency log.
func parseTrustedRoot(data []byte) (*root.TrustedRoot, error) {
	pb, err := root.NewTrustedRootProtobuf(data)
	if err != nil {
		return nil, err
	}
	switch pb.GetMediaType() {
	case mediaTypeTrustedRoot01Legacy, mediaTypeTrustedRoot01, mediaTypeTrustedRoot02:
		pb.MediaType = root.TrustedRootMediaType01
	default:
		return nil, fmt.Errorf("unsupported TrustedRoot mediaType %q", pb.GetMediaType())
	}
	tr, err := root.NewTrustedRootFromProtobuf(pb)
	if err != nil {
		return nil, err
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, errors.New("trusted root lists no certificate authority")
	}
	if len(tr.RekorLogs()) == 0 {
		return nil, errors.New("trusted root lists no transparency log")
	}
	return tr, nil
}

// TrustRootOptions says where the Sigstore trusted root comes from when no
// trust configuration file is given.
type TrustRootOptions struct {
	Staging  bool   // the staging instance instead of production
	CacheDir string // TUF cache; "" means sigstore-go's default (~/.sigstore/root)
	// Logger receives the warning when a cached trusted root is used
	// because the TUF repository could not be reached; nil means
	// slog.Default().
	Logger *slog.Logger

	// Test hooks: another TUF repository (mirror and its root.json) and
	// another HTTP transport.
	mirror    string
	tufRoot   []byte
	transport http.RoundTripper
}

// tufRequestTimeout bounds each TUF download. The whole refresh is a
// handful of small files.
const tufRequestTimeout = 20 * time.Second

// tufTrustedRootTarget is the TUF target holding the trusted root.
const tufTrustedRootTarget = "trusted_root.json"

// FetchTrustedRoot returns the production or staging trusted root through
// sigstore-go's TUF client, using and refreshing the on-disk cache.
//
// Every call runs the full TUF update against the repository (as
// sigstore-python does for verification): the root of trust is the TUF
// root embedded in sigstore-go, newer root versions are fetched and
// verified in sequence, then timestamp, snapshot, targets and the
// trusted_root.json target, which the cache keeps. The root versions are
// also kept, in a "modelgate-root-history" folder of the cache, because
// go-tuf keeps only the newest one and resets it to the embedded root at
// the start of every update.
//
// When the repository cannot be reached (a network error, a timeout or an
// HTTP 5xx/429 answer) and the cache holds a complete earlier update, the
// same TUF workflow is replayed from the cache without network: the root
// chain from the embedded root, signatures, versions, expiry dates and the
// target's hashes are all verified again, exactly as online; nothing in
// the cache is trusted for being there. The trusted root is then used and
// a warning is logged. Once the cached timestamp metadata has expired
// (the Sigstore repositories sign it for a few days), the replay fails and
// so does this function: offline use beyond that needs a trust
// configuration file (LoadTrustConfig). Any other TUF failure (a bad
// signature, a rollback, expired metadata served by the repository) is an
// error and never falls back to the cache.
func FetchTrustedRoot(ctx context.Context, opts TrustRootOptions) (root.TrustedMaterial, error) {
	repo := opts.repository()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cache, err := opts.cacheDir(log)
	if err != nil {
		return nil, err
	}
	online := &tufNetFetcher{ctx: ctx, client: &http.Client{Timeout: tufRequestTimeout, Transport: opts.transport}}
	tr, err := repo.fetch(cache, online)
	if err == nil {
		if cache != "" {
			if err := repo.saveRootHistory(cache, online.roots); err != nil {
				log.Warn("could not keep TUF root history for offline use", "error", err)
			}
		}
		return tr, nil
	}
	if online.unreachable == nil || ctx.Err() != nil || cache == "" {
		return nil, fmt.Errorf("sigstore %s trusted root from TUF repository %s: %w", repo.name, repo.mirror, err)
	}
	meta := repo.metadataDir(cache)
	unreachable := fmt.Sprintf("sigstore %s trusted root: TUF repository %s is unreachable (%v)", repo.name, repo.mirror, online.unreachable)
	timestamp := filepath.Join(meta, metadata.TIMESTAMP+".json")
	if _, err := os.Stat(timestamp); err != nil {
		return nil, fmt.Errorf("%s, and there is no cached copy in %s (the first use needs the network; offline, use a trust configuration file)",
			unreachable, cache)
	}
	expires := tufExpiry(timestamp)
	tr, replayErr := repo.fetch(cache, &tufCacheFetcher{base: repo.mirror, history: repo.historyDir(cache), meta: meta})
	if replayErr != nil {
		return nil, fmt.Errorf("%s, and the cached copy in %s does not verify (offline, use a trust configuration file): %v",
			unreachable, cache, replayErr)
	}
	log.Warn("TUF repository unreachable; using the cached Sigstore trusted root, verified again offline",
		"instance", repo.name, "repository", repo.mirror, "cache", cache,
		"metadata_expires", expires, "error", online.unreachable)
	return tr, nil
}

// tufRepo is one Sigstore TUF repository and the root that anchors it.
type tufRepo struct {
	name   string // for messages
	mirror string
	root   []byte
}

func (o TrustRootOptions) repository() tufRepo {
	r := tufRepo{name: "production", mirror: tuf.DefaultMirror, root: tuf.DefaultRoot()}
	if o.Staging {
		r = tufRepo{name: "staging", mirror: tuf.StagingMirror, root: tuf.StagingRoot()}
	}
	if o.mirror != "" {
		r.mirror, r.root = o.mirror, o.tufRoot
	}
	return r
}

// cacheDir returns the cache to use, creating it. When the default cache
// cannot be created (a read-only home in a container) the update runs
// without a cache, which only loses the offline fallback.
func (o TrustRootOptions) cacheDir(log *slog.Logger) (string, error) {
	dir := o.CacheDir
	if dir == "" {
		dir = tuf.DefaultOptions().CachePath
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		if o.CacheDir != "" {
			return "", fmt.Errorf("TUF cache: %w", err)
		}
		log.Warn("TUF cache unusable; fetching the Sigstore trusted root without a cache", "error", err)
		return "", nil
	}
	return dir, nil
}

// fetch runs the TUF update with fetcher f and returns the trusted root.
func (r tufRepo) fetch(cache string, f tufFetcher) (*root.TrustedRoot, error) {
	c, err := tuf.New(&tuf.Options{
		Root:              r.root,
		CachePath:         cache,
		RepositoryBaseURL: r.mirror,
		DisableLocalCache: cache == "",
		Fetcher:           f,
	})
	if err != nil {
		return nil, err
	}
	data, err := c.GetTarget(tufTrustedRootTarget)
	if err != nil {
		return nil, err
	}
	tr, err := parseTrustedRoot(data)
	if err != nil {
		return nil, fmt.Errorf("TUF target %s: %w", tufTrustedRootTarget, err)
	}
	return tr, nil
}

// metadataDir is where sigstore-go keeps this repository's metadata.
func (r tufRepo) metadataDir(cache string) string {
	return filepath.Join(cache, tuf.URLToPath(r.mirror))
}

func (r tufRepo) historyDir(cache string) string {
	return filepath.Join(r.metadataDir(cache), "modelgate-root-history")
}

// saveRootHistory keeps the root versions a successful update downloaded.
func (r tufRepo) saveRootHistory(cache string, roots map[string][]byte) error {
	if len(roots) == 0 {
		return nil
	}
	dir := r.historyDir(cache)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, data := range roots {
		tmp, err := os.CreateTemp(dir, ".tmp-*")
		if err != nil {
			return err
		}
		_, werr := tmp.Write(data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			return err
		}
		if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
			os.Remove(tmp.Name())
			return err
		}
	}
	return nil
}

// tufExpiry returns the expiry recorded in a cached metadata file, for the
// offline warning only ("" when unreadable).
func tufExpiry(path string) string {
	data, err := safefile.ReadFile(path, 1<<20)
	if err != nil {
		return ""
	}
	var md struct {
		Signed struct {
			Expires string `json:"expires"`
		} `json:"signed"`
	}
	if json.Unmarshal(data, &md) != nil {
		return ""
	}
	return md.Signed.Expires
}

// tufFetcher is go-tuf's download interface (fetcher.Fetcher).
type tufFetcher interface {
	DownloadFile(url string, maxLength int64, timeout time.Duration) ([]byte, error)
}

// rootVersionFile and versionedMetadataFile match the names of versioned
// metadata files (consistent snapshots), which the cache keeps unversioned.
var (
	rootVersionFile       = regexp.MustCompile(`^[1-9][0-9]{0,9}\.root\.json$`)
	versionedMetadataFile = regexp.MustCompile(`^[1-9][0-9]{0,9}\.(snapshot|targets)\.json$`)
)

// tufNetFetcher downloads over HTTP, honours ctx, records the root
// versions it fetched, and remembers whether the repository was
// unreachable (as opposed to answering with something invalid).
type tufNetFetcher struct {
	ctx         context.Context
	client      *http.Client
	roots       map[string][]byte // file name -> bytes, for saveRootHistory
	unreachable error
}

func (f *tufNetFetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "modelgate (sigstore-go TUF client)")
	resp, err := f.client.Do(req)
	if err != nil {
		f.noteUnreachable(err)
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: url}
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			f.noteUnreachable(err)
		}
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxLength+1))
	if err != nil {
		f.noteUnreachable(err)
		return nil, err
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is larger than %d bytes", url, maxLength)}
	}
	if name := filepath.Base(url); rootVersionFile.MatchString(name) {
		if f.roots == nil {
			f.roots = map[string][]byte{}
		}
		f.roots[name] = data
	}
	return data, nil
}

func (f *tufNetFetcher) noteUnreachable(err error) {
	if f.unreachable == nil {
		f.unreachable = err
	}
}

// tufCacheFetcher serves a TUF update from the cache: root versions from
// the root history, the other top-level metadata from sigstore-go's
// metadata folder (whatever version is cached there; go-tuf checks it is
// the one it asked for). Any other file is "404", as is a missing one, so
// target files come only from go-tuf's own target cache. go-tuf verifies
// whatever is served exactly as it verifies downloads.
type tufCacheFetcher struct {
	base          string
	history, meta string
}

func (f *tufCacheFetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	var path string
	switch name := filepath.Base(url); {
	case url != f.base+"/"+name: // not top-level metadata: a target file
	case rootVersionFile.MatchString(name):
		path = filepath.Join(f.history, name)
	case name == metadata.TIMESTAMP+".json":
		path = filepath.Join(f.meta, name)
	case versionedMetadataFile.MatchString(name):
		path = filepath.Join(f.meta, versionedMetadataFile.FindStringSubmatch(name)[1]+".json")
	}
	if path == "" {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: http.StatusNotFound, URL: url}
	}
	data, err := safefile.ReadFile(path, maxLength)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: http.StatusNotFound, URL: url}
	}
	return data, err
}
