package vllmcmd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/hfcache"
)

// Kind is the policy section an artifact is decided under.
type Kind string

// The kinds of artifacts.
const (
	KindModel Kind = "model"
	KindLoRA  Kind = "lora"
)

// Location says where an artifact is.
type Location uint8

// The locations of artifacts.
const (
	// Local is a file or folder on this machine: Artifact.Path.
	Local Location = iota + 1
	// Hub is a Hugging Face id: Artifact.HubID at Artifact.Revision,
	// which vLLM reads from the local cache (HF_HUB_OFFLINE=1).
	Hub
	// Remote is a URI vLLM would fetch itself (s3://, gs://, az://,
	// https://): Artifact.URI. Policies deny these.
	Remote
)

func (l Location) String() string {
	switch l {
	case Local:
		return "local"
	case Hub:
		return "hub"
	case Remote:
		return "remote"
	}
	return "unknown"
}

// The flags that pin an artifact's revision in vLLM's argv (see Rewrite).
const (
	PinRevision            = "--revision"
	PinTokenizerRevision   = "--tokenizer-revision"
	PinSpeculativeRevision = "--speculative-config.revision"
)

// Artifact is one thing vLLM will load.
type Artifact struct {
	Kind Kind
	// Source says where it was named: "MODEL", "--tokenizer",
	// "--lora-modules[1] sql", "--speculative-config.model",
	// "--default-mm-loras[audio]"; merged sources are joined with ", ".
	// Odd names from the command line are quoted.
	Source string
	// Name is a LoRA adapter's name (--lora-modules) or modality
	// (--default-mm-loras), as written; "" for models.
	Name string
	// Value is the artifact as written on the command line.
	Value    string
	Location Location
	// Path (Local) is absolute and, like vLLM's, not cleaned: ".." after
	// a symbolic link means what the operating system says it means.
	// Canonicalize it with filepath.EvalSymlinks before matching.
	Path string
	// HubID (Hub) is "org/name" (or a legacy "name").
	HubID string
	// Revision (Hub) is the revision vLLM will ask for, "" for the
	// repository's default branch.
	Revision string
	// RevisionFlag (Hub) is the Pin* flag that pins Revision in vLLM's
	// argv, or "" when it cannot be pinned (LoRA adapters: vLLM loads
	// them at the default branch).
	RevisionFlag string
	// PinFlags (Hub) are every Pin* flag that pins this artifact:
	// RevisionFlag and those of the artifacts merged into it (the
	// tokenizer that is MODEL at the same revision, MTP's draft that is
	// MODEL). Pin each to the verified commit.
	PinFlags []string
	// Weights says vLLM loads model weights from it: MODEL, the
	// speculative model, a speculators verifier. With --download-dir vLLM
	// reads those from there (config and tokenizer still from the hub
	// cache), so a hub artifact with Weights is decided in both.
	Weights bool
	// GGUFQuant (Hub) is the quantization of a "org/name:QUANT" GGUF
	// reference: vLLM loads the matching .gguf files of the repository.
	GGUFQuant string
	// URI (Remote) is the URI as written.
	URI string
	// GGUFFiles (Local, a single-file GGUF model) lists every file vLLM
	// loads for it: the file or all its -NNNNN-of-MMMMM shards, then the
	// mmproj*.gguf projectors beside it. GGUFDir is their folder, from
	// which vLLM also reads config.json and tokenizer files when present.
	GGUFFiles []string
	GGUFDir   string

	// refs are where the command line names it, for Rewrite's Copies.
	refs []argRef
}

// resolver turns what the command line names into Artifacts the way vLLM
// resolves them.
type resolver struct{ opt *Options }

// Bounds on what GGUF discovery may read.
const (
	maxGGUFShards   = 10_000
	maxDirEntries   = 100_000
	maxMMProjFiles  = 64
	ggufMagicLength = 4
)

var (
	// uriRE is a URI with a scheme: s3://, gs://, az://, https://.
	uriRE = lazyRegexp(`^[A-Za-z][A-Za-z0-9+.-]*://`)
	// remoteGGUFRE is vLLM's is_remote_gguf pattern: "org/name:QUANT".
	remoteGGUFRE = lazyRegexp(`^[a-zA-Z0-9][a-zA-Z0-9._-]*/[a-zA-Z0-9][a-zA-Z0-9._-]*:[A-Za-z0-9_+-]+$`)
	// ggufShardRE is a split GGUF file name: PREFIX-00001-of-00003.gguf.
	ggufShardRE = lazyRegexp(`^(.*)-([0-9]{5})-of-([0-9]{5})\.gguf$`)
)

// validHubID mirrors huggingface_hub.validate_repo_id (ASCII only, and the
// namespace capped like the name), with the same rules the hub cache
// resolver applies, so that what is read here as an id is looked up as
// one.
func validHubID(s string) bool { return hfcache.IsRepoID(s) }

// joinDir is dir + "/" + rel without cleaning, as the operating system
// resolves a relative path against the working directory.
func joinDir(dir, rel string) string {
	if dir != "/" {
		dir = strings.TrimRight(dir, "/")
	}
	if dir == "/" {
		return "/" + rel
	}
	return dir + "/" + rel
}

// expandHome mirrors os.path.expanduser for "~" and "~/...". "~user" is
// refused: modelgate only knows vLLM's own home.
func (r *resolver) expandHome(source, value string) (string, error) {
	if value != "~" && !strings.HasPrefix(value, "~/") {
		return "", refuse(source, "write the absolute path", "%q names another user's home directory", value)
	}
	if r.opt.Home == "" {
		return "", refuse(source, "write the absolute path", "%q starts with ~ but vLLM's home directory is unknown", value)
	}
	p := strings.TrimRight(r.opt.Home, "/") + value[1:]
	if p == "" {
		p = "/"
	}
	return p, nil
}

// path resolves a path-valued flag (no hub ids) against vLLM's directory.
func (r *resolver) path(source, value string) (string, error) {
	switch {
	case value == "":
		return "", refuse(source, "name a folder", "empty path")
	case strings.HasPrefix(value, "~"):
		return r.expandHome(source, value)
	case filepath.IsAbs(value):
		return value, nil
	}
	return joinDir(r.opt.Dir, value), nil
}

// model resolves a model-like value (MODEL, --tokenizer, --hf-config-path,
// --generation-config, the speculative model) as vLLM does: an existing
// file or folder, else a Hugging Face id. With gguf, a single-file GGUF
// model brings its shards and projector files.
func (r *resolver) model(a Artifact, gguf bool) (Artifact, error) {
	v := a.Value
	if v == "" {
		return a, refuse(a.Source, "name a model folder, file or Hugging Face id", "empty value")
	}
	if uriRE().MatchString(v) {
		a.Location, a.URI, a.Revision, a.RevisionFlag = Remote, v, "", ""
		return a, nil
	}
	p, err := r.path(a.Source, v)
	if err != nil {
		return a, err
	}
	fi, statErr := r.opt.FS.Stat(p)
	if statErr == nil {
		a.Location, a.Path, a.Revision, a.RevisionFlag = Local, p, "", ""
		if gguf && fi.Mode().IsRegular() {
			return a, r.ggufFiles(&a)
		}
		return a, nil
	}
	if m := remoteGGUFRE().FindString(v); m != "" && gguf {
		repo, quant := v[:strings.LastIndexByte(v, ':')], v[strings.LastIndexByte(v, ':')+1:]
		if validHubID(repo) {
			a.Location, a.HubID, a.GGUFQuant = Hub, repo, quant
			return a, nil
		}
	}
	if validHubID(v) {
		a.Location, a.HubID = Hub, v
		return a, nil
	}
	return a, refuse(a.Source, "name an existing file or folder, or a Hugging Face id (org/name)",
		"%q is neither a file or folder here (%s) nor a Hugging Face id", v, statReason(statErr))
}

// statReason is why a path could not be used, without the path itself
// (the message already quotes it).
func statReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// lora resolves a LoRA adapter path as vLLM's get_adapter_absolute_path
// does: absolute as is, "~" expanded, relative and existing joined to the
// working directory (and normalized, as os.path.abspath does), otherwise
// a Hugging Face id at its default branch.
func (r *resolver) lora(a Artifact) (Artifact, error) {
	v := a.Value
	switch {
	case v == "":
		return a, refuse(a.Source, "name the adapter's folder or Hugging Face id", "empty path")
	case uriRE().MatchString(v):
		a.Location, a.URI = Remote, v
		return a, nil
	case filepath.IsAbs(v):
		a.Location, a.Path = Local, v
		return a, nil
	case strings.HasPrefix(v, "~"):
		p, err := r.expandHome(a.Source, v)
		a.Location, a.Path = Local, p
		return a, err
	}
	if _, err := r.opt.FS.Stat(joinDir(r.opt.Dir, v)); err == nil {
		a.Location, a.Path = Local, filepath.Clean(joinDir(r.opt.Dir, v))
		return a, nil
	}
	if validHubID(v) {
		a.Location, a.HubID = Hub, v
		return a, nil
	}
	return a, refuse(a.Source, "name an existing folder or a Hugging Face id (org/name)",
		"%q is neither a folder here nor a Hugging Face id", v)
}

// pySuffix is pathlib's PurePath.suffix of a file name.
func pySuffix(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i > 0 && i < len(name)-1 {
		return name[i:]
	}
	return ""
}

// parentDir is pathlib's PurePath.parent of an absolute path: the last
// component removed, ".." kept.
func parentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// ggufFiles fills in what vLLM loads for a local model file. vLLM takes a
// file for GGUF when its suffix is .gguf or it starts with "GGUF"
// (check_gguf_file); it then loads every shard of a -NNNNN-of-MMMMM
// name (discover_gguf_shards) and, when the name ends in .gguf, an
// mmproj*.gguf projector from the same folder (detect_gguf_multimodal:
// the first glob match, so every match is listed).
func (r *resolver) ggufFiles(a *Artifact) error {
	name := a.Path[strings.LastIndexByte(a.Path, '/')+1:]
	if pySuffix(name) != ".gguf" && !r.hasGGUFMagic(a.Path) {
		return nil // not GGUF: vLLM will fail to load it as a model
	}
	dir := parentDir(a.Path)
	a.GGUFDir = dir
	files, err := r.ggufShards(a, dir, name)
	if err != nil {
		return err
	}
	if strings.HasSuffix(a.Value, ".gguf") {
		proj, err := r.mmproj(a, dir, files)
		if err != nil {
			return err
		}
		files = append(files, proj...)
	}
	a.GGUFFiles = files
	return nil
}

func (r *resolver) hasGGUFMagic(p string) bool {
	f, err := r.opt.FS.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [ggufMagicLength]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "GGUF"
}

func (r *resolver) ggufShards(a *Artifact, dir, name string) ([]string, error) {
	m := ggufShardRE().FindStringSubmatch(name)
	if m == nil {
		return []string{a.Path}, nil
	}
	index, _ := strconv.Atoi(m[2])
	count, _ := strconv.Atoi(m[3])
	if count == 0 || index == 0 || index > count {
		return nil, refuse(a.Source, "name the first shard of a complete set", "%q: shard %d of %d is not a valid GGUF shard name", a.Value, index, count)
	}
	if count > maxGGUFShards {
		return nil, refuse(a.Source, "merge the shards", "%q: more than %d GGUF shards", a.Value, maxGGUFShards)
	}
	files := make([]string, 0, count)
	for i := 1; i <= count; i++ {
		p := fmt.Sprintf("%s/%s-%05d-of-%05d.gguf", dir, m[1], i, count)
		fi, err := r.opt.FS.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return nil, refuse(a.Source, "make the shard set complete", "%q: GGUF shard %d of %d is missing (%q)", a.Value, i, count, p)
		}
		files = append(files, p)
	}
	return files, nil
}

// mmproj lists the projector files vLLM may pick: its patterns
// "mmproj.gguf", "mmproj-*.gguf" and "*mmproj*.gguf" all match names that
// contain "mmproj" and end in ".gguf". Case is ignored so that a
// case-insensitive file system cannot hide one.
func (r *resolver) mmproj(a *Artifact, dir string, have []string) ([]string, error) {
	entries, err := r.opt.FS.ReadDir(dir)
	if err != nil {
		return nil, refuse(a.Source, "make the model's folder readable", "cannot list %q for mmproj files: %v", dir, err)
	}
	if len(entries) > maxDirEntries {
		return nil, refuse(a.Source, "keep the model in its own folder", "%q has more than %d entries", dir, maxDirEntries)
	}
	var out []string
	for _, e := range entries {
		lower := strings.ToLower(e.Name())
		if !strings.Contains(lower, "mmproj") || !strings.HasSuffix(lower, ".gguf") {
			continue
		}
		p := dir + "/" + e.Name()
		if contains(have, p) {
			continue
		}
		fi, err := r.opt.FS.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return nil, refuse(a.Source, "remove or replace it", "%q: vLLM may load %q as the projector, but it is not a regular file", a.Value, p)
		}
		out = append(out, p)
	}
	if len(out) > maxMMProjFiles {
		return nil, refuse(a.Source, "keep one projector beside the model", "%q: more than %d mmproj files", a.Value, maxMMProjFiles)
	}
	sort.Strings(out)
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
