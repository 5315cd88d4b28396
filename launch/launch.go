// Package launch is modelgate's start-up gate for vLLM (`modelgate exec`,
// spec vllm.md §1–§4): it reads a vLLM command line with package vllmcmd,
// decides every artifact it makes vLLM load under the security policy, and
// says how vLLM must then be run: its argv pinned to the verified commits
// and its environment hardened. Executing is the caller's job, and only
// when the Plan is Runnable. Behind the gate (`modelgate exec --listen`)
// vLLM runs as modelgate's child: NewAddress chooses its private address
// and StartProcess runs it in a process group of its own; when to release
// the gate, forward a signal or stop stays with the caller.
//
// Artifacts named by path are decided with Policy.Decide; those named by
// Hugging Face id with Policy.DecideHub in the hub cache vLLM will read
// (chosen from vLLM's environment as huggingface_hub chooses it) and, for
// weights, also in vLLM's --download-dir, which must hold the same commit.
// A single GGUF file is decided as its folder, from which vLLM also reads
// shards, projectors, config and tokenizer. MODEL's config.json is read
// (bounded, only after MODEL was decided) for a speculators_config, whose
// verifier vLLM serves in MODEL's place: it is decided too.
//
// Every refusal of the command line or the environment is a
// *vllmcmd.RefusedError that says what to write instead. Denials are
// decisions, each recorded once (Options.OnDecision, Plan.Decisions).
package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/internal/safefile"
	"github.com/modelgate/modelgate/policy"
	"github.com/modelgate/modelgate/vllmcmd"
)

// Options says where and how vLLM will run.
type Options struct {
	// Dir is the directory vLLM will run in, absolute: modelgate exec
	// passes its own, which vLLM inherits.
	Dir string
	// Environ is the environment vLLM would get (os.Environ form), before
	// hardening. HOME and the Hugging Face cache variables are read from
	// it, as vLLM will read them.
	Environ []string
	// AllowFlags are the code-loading flags the operator allows
	// (--allow-flag NAME).
	AllowFlags []string
	// BehindGate is `modelgate exec --listen`: clients reach vLLM only
	// through the gate (see vllmcmd.EnvOptions). Rewrite's Listen then
	// says where vLLM listens.
	BehindGate bool
	// OnDecision, when set, is called with each decision as soon as it is
	// made, in order, so that it can be printed while the next one is
	// being verified.
	OnDecision func(Decision)
}

// Decision is one artifact's decision and where the command line named it.
type Decision struct {
	// Source is where the artifact was named: "MODEL", "--tokenizer",
	// "--lora-modules[1] sql", "MODEL (GGUF file: its folder)",
	// "MODEL (--download-dir)"...
	Source string
	policy.Decision
}

// MarshalJSON is the decision's JSON record (policy.Decision's) with
// "source" first.
func (d Decision) MarshalJSON() ([]byte, error) {
	rec, err := json.Marshal(d.Decision)
	if err != nil {
		return nil, err
	}
	src, err := json.Marshal(d.Source)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"source":`), src...)
	if len(rec) > 2 {
		out = append(out, ',')
	}
	return append(out, rec[1:]...), nil
}

// Plan is what modelgate exec decided about one vLLM command line.
type Plan struct {
	// Command is the command line as vLLM will read it.
	Command *vllmcmd.Command
	// Env is the hardened environment to run vLLM with.
	Env *vllmcmd.Environment
	// Decisions are every artifact's decisions, in command-line order.
	Decisions []Decision
	// Pins are the verified commits vLLM is pinned to (see Argv).
	Pins vllmcmd.Pins
	// Copies are the verified copies vLLM loads artifacts from, by index
	// in Command.Artifacts (see Argv): with a pin folder
	// (policy.Options.Pins), every verified artifact. Hold each decision's
	// PinnedPath while vLLM runs.
	Copies map[int]string
	// Refused is set when every artifact was allowed but the command
	// cannot run as written: --trust-remote-code over a model that was
	// not verified. It is a *vllmcmd.RefusedError.
	Refused error
	// Home is HOME in vLLM's environment ("" when unset): where vLLM
	// expands "~" in paths, LoRA adapters loaded at run time included.
	Home string

	hubCache    hfcache.Root
	hubCacheErr error
}

// HubCache is the Hugging Face hub cache vLLM reads ids from, chosen from
// its environment as huggingface_hub chooses it: the cache artifacts
// named by id were decided in, and the one the gate must decide adapters
// named by id in. The error says why there is none (an *hfcache.EnvError
// for a variable modelgate will not interpret); Prepare refuses it only
// when the command line names an id.
func (p *Plan) HubCache() (hfcache.Root, error) { return p.hubCache, p.hubCacheErr }

// Denied is the number of decisions that denied.
func (p *Plan) Denied() int {
	n := 0
	for _, d := range p.Decisions {
		if !d.Allowed() {
			n++
		}
	}
	return n
}

// PinnedPaths are the verified copies vLLM will load, each once: hold
// them (pindir.Dir.Hold) while it runs.
func (p *Plan) PinnedPaths() []string {
	var out []string
	for _, d := range p.Decisions {
		if d.PinnedPath != "" && !slices.Contains(out, d.PinnedPath) {
			out = append(out, d.PinnedPath)
		}
	}
	return out
}

// Runnable reports whether vLLM may be executed: nothing denied, nothing
// refused.
func (p *Plan) Runnable() bool { return p.Denied() == 0 && p.Refused == nil }

// Argv is the argv to execute vLLM with: the user's, with the pins
// appended, the --config file's name replaced by configCopy (a private
// copy of Command.ConfigData, see WriteConfigCopy; "" when there is no
// --config), verified copies in place of the artifacts copied, and,
// behind the gate, listen in place of the user's address.
func (p *Plan) Argv(configCopy string, listen *vllmcmd.Listen) ([]string, error) {
	if !p.Runnable() {
		return nil, errors.New("launch: the plan does not allow vLLM to run")
	}
	return p.Command.Rewrite(vllmcmd.RewriteOptions{Pins: p.Pins, Listen: listen, ConfigCopy: configCopy, Copies: p.Copies})
}

// Prepare reads argv (the whole vLLM command) and the environment as vLLM
// will, and decides every artifact under pol. It returns a
// *vllmcmd.RefusedError for a command line or environment modelgate will
// not run vLLM with (nothing is decided then), and the context's error if
// ctx ends while deciding. Otherwise the Plan holds every decision; run
// vLLM only if it is Runnable.
func Prepare(ctx context.Context, pol *policy.Policy, argv []string, o Options) (*Plan, error) {
	if !filepath.IsAbs(o.Dir) {
		return nil, fmt.Errorf("launch: the working directory %q is not absolute", o.Dir)
	}
	env, err := vllmcmd.HardenEnv(o.Environ, vllmcmd.EnvOptions{BehindGate: o.BehindGate, HasLoRASection: pol.Governs(policy.LoRA)})
	if err != nil {
		return nil, err
	}
	lookup := lookupIn(o.Environ)
	home, _ := lookup("HOME")
	opt := vllmcmd.Options{Dir: o.Dir, Home: home, AllowFlags: o.AllowFlags}
	cmd, err := vllmcmd.Parse(argv, opt)
	if err != nil {
		return nil, err
	}
	if o.BehindGate {
		if err := servesBehindGate(cmd); err != nil {
			return nil, err
		}
	}
	l := &launcher{ctx: ctx, pol: pol, cmd: cmd, opt: opt, on: o.OnDecision, plan: &Plan{Command: cmd, Env: env, Home: home}}
	if err := l.checkPins(cmd.Artifacts, firstModel(cmd.Artifacts)); err != nil {
		return nil, err
	}
	if err := l.chooseRoots(lookup, home); err != nil {
		return nil, err
	}
	for i, a := range cmd.Artifacts {
		d, err := l.decide(a, i)
		if err != nil {
			return nil, err
		}
		if i == 0 && a.Kind == vllmcmd.KindModel {
			if err := l.speculators(a, d); err != nil {
				return nil, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.plan.Refused = l.trustRemoteCode()
	return l.plan, nil
}

// servesBehindGate refuses a command line whose vLLM the gate cannot stand
// in front of: one that serves no API, or serves it over TLS (the gate
// speaks plain HTTP to vLLM on loopback or a unix socket).
func servesBehindGate(cmd *vllmcmd.Command) error {
	switch {
	case cmd.Headless:
		return &vllmcmd.RefusedError{Flag: "--headless", Reason: "vLLM serves no API then, so there is nothing to put the gate in front of",
			Hint: "remove --listen, or --headless"}
	case cmd.TLSFlag != "":
		return &vllmcmd.RefusedError{Flag: cmd.TLSFlag, Reason: "vLLM would serve HTTPS on its private address, where the gate speaks plain HTTP to it",
			Hint: "remove the --ssl-* flags and terminate TLS in front of the gate"}
	}
	return nil
}

// APIKeys are the keys vLLM's API will require, chosen as its api_server
// chooses them: the non-empty values of --api-key when the flag is given
// (so that --api-key "" turns authentication off), else VLLM_API_KEY when
// it is not empty. nil means no key is required.
func (p *Plan) APIKeys() []string {
	given := p.Command.APIKeys
	if given == nil && p.Env.APIKey != "" {
		given = []string{p.Env.APIKey}
	}
	var keys []string
	for _, k := range given {
		if k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// launcher holds one Prepare's state.
type launcher struct {
	ctx  context.Context
	pol  *policy.Policy
	cmd  *vllmcmd.Command
	opt  vllmcmd.Options
	on   func(Decision)
	plan *Plan

	root    hfcache.Root
	rootErr error         // why there is no root (refused when a hub id needs one)
	dl      *hfcache.Root // vLLM's --download-dir, or nil
	served  *vllmcmd.Artifact
}

// lookupIn is os.LookupEnv over environ (HardenEnv has refused repeated
// names).
func lookupIn(environ []string) func(string) (string, bool) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if name, value, ok := strings.Cut(kv, "="); ok {
			vars[name] = value
		}
	}
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// firstModel returns MODEL, the first artifact.
func firstModel(as []vllmcmd.Artifact) *vllmcmd.Artifact {
	if len(as) == 0 || as[0].Kind != vllmcmd.KindModel {
		return nil
	}
	return &as[0]
}

// chooseRoots finds the hub cache vLLM will read (from its environment)
// and its --download-dir. A cache variable modelgate will not interpret is
// refused only when a hub id needs the cache.
func (l *launcher) chooseRoots(lookup func(string) (string, bool), home string) error {
	l.root, l.rootErr = hfcache.FindCacheRoot(lookup, home)
	l.plan.hubCache, l.plan.hubCacheErr = l.root, l.rootErr
	if dir := l.cmd.DownloadDir; dir != "" {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
		root, err := hfcache.DownloadDirRoot(filepath.Clean(dir))
		if err != nil {
			return &vllmcmd.RefusedError{Flag: "--download-dir", Reason: err.Error(), Hint: "give an absolute folder"}
		}
		l.dl = &root
	}
	for _, a := range l.cmd.Artifacts {
		if a.Location == vllmcmd.Hub {
			return l.needRoot()
		}
	}
	return nil
}

// needRoot refuses the environment when the hub cache cannot be chosen.
func (l *launcher) needRoot() error {
	if l.rootErr == nil {
		return nil
	}
	var ee *hfcache.EnvError
	if errors.As(l.rootErr, &ee) {
		return &vllmcmd.RefusedError{Flag: ee.Var, Reason: fmt.Sprintf("%s; vLLM reads Hugging Face ids from the cache it names", ee.Reason),
			Hint: "set it to the absolute path of the cache"}
	}
	return &vllmcmd.RefusedError{Flag: hfcache.EnvHubCache, Reason: l.rootErr.Error(), Hint: "set HF_HUB_CACHE to the absolute path of the Hugging Face cache"}
}

// emit records a decision.
func (l *launcher) emit(source string, d policy.Decision) policy.Decision {
	rec := Decision{Source: source, Decision: d}
	l.plan.Decisions = append(l.plan.Decisions, rec)
	if l.on != nil {
		l.on(rec)
	}
	return d
}

// decide decides one artifact (index i in the command's artifacts, or -1
// for one vLLM finds elsewhere) and records the pins of an allowed hub
// artifact, or its verified copy. It returns the decision that speaks for
// the artifact (for a hub id, the one in the hub cache).
func (l *launcher) decide(a vllmcmd.Artifact, i int) (policy.Decision, error) {
	kind := policy.Kind(a.Kind)
	if err := l.ctx.Err(); err != nil {
		return policy.Decision{}, err
	}
	switch a.Location {
	case vllmcmd.Local:
		if a.GGUFDir != "" {
			// vLLM reads the shards, projectors, config and tokenizer
			// from the file's folder: the folder is what is verified.
			d := l.emit(a.Source+" (GGUF file: its folder)", l.pol.Decide(l.ctx, kind, a.GGUFDir))
			return d, l.copied(a, i, d)
		}
		d := l.emit(a.Source, l.pol.Decide(l.ctx, kind, a.Path))
		return d, l.copied(a, i, d)
	case vllmcmd.Hub:
		if err := l.needRoot(); err != nil {
			return policy.Decision{}, err
		}
		d := l.emit(a.Source, l.pol.DecideHub(l.ctx, kind, l.root, a.HubID, a.Revision))
		if d.PinnedPath != "" {
			// vLLM loads the copy, a local folder: neither the
			// --download-dir snapshot nor a revision matters to it.
			return d, l.copied(a, i, d)
		}
		allowed := d.Allowed()
		if a.Weights && l.dl != nil && l.ctx.Err() == nil {
			dl := l.emit(a.Source+" (--download-dir)", l.pol.DecideHubSameCommit(l.ctx, kind, *l.dl, d))
			allowed = allowed && dl.Allowed()
		}
		if allowed && d.HubCommit != "" {
			if err := l.pin(a, d.HubCommit); err != nil {
				return d, err
			}
		}
		return d, nil
	}
	// Remote: the policy denies what is not local (or does not govern it).
	return l.emit(a.Source, l.pol.Decide(l.ctx, kind, a.URI)), nil
}

// copied records that vLLM loads a, decided by d, from d's verified copy
// (when there is one). A GGUF file is loaded from its folder's copy,
// under its name there, which the copy must hold; an artifact vLLM finds
// by itself (i < 0: a speculators verifier named in MODEL's config.json)
// cannot be pointed at a copy.
func (l *launcher) copied(a vllmcmd.Artifact, i int, d policy.Decision) error {
	if d.PinnedPath == "" || !d.Allowed() {
		return nil
	}
	switch {
	case i < 0:
		return &vllmcmd.RefusedError{Flag: a.Source, Reason: "vLLM finds it through MODEL's config.json, so it cannot be loaded from its verified copy",
			Hint: "serve the verifier model itself, or run without --pin-dir"}
	case a.GGUFQuant != "":
		return &vllmcmd.RefusedError{Flag: a.Source, Reason: "vLLM picks the GGUF files of a quantization from the repository itself, so it cannot be pointed at the verified copy",
			Hint: fmt.Sprintf("download the .gguf files into a folder (hf download %s --local-dir DIR) and name the file", a.HubID)}
	}
	p := d.PinnedPath
	if a.GGUFDir != "" {
		name := a.Path[strings.LastIndexByte(a.Path, '/')+1:]
		p = filepath.Join(p, name)
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			return &vllmcmd.RefusedError{Flag: a.Source, Reason: fmt.Sprintf("the GGUF file %s is not in the verified copy of its folder (the signature does not cover it)", strconv.Quote(name)),
				Hint: "sign the folder with the file in it"}
		}
	}
	if l.plan.Copies == nil {
		l.plan.Copies = map[int]string{}
	}
	l.plan.Copies[i] = p
	return nil
}

// pin pins every flag of a to commit.
func (l *launcher) pin(a vllmcmd.Artifact, commit string) error {
	flags := a.PinFlags
	if l.served != nil && a.Source == l.served.Source && !l.hasTokenizer() {
		// No --tokenizer: vLLM reads the served model's tokenizer at
		// --tokenizer-revision (checkPins made sure it is --revision).
		flags = append(slices.Clone(flags), vllmcmd.PinTokenizerRevision)
	}
	for _, f := range flags {
		var dst *string
		switch f {
		case vllmcmd.PinRevision:
			dst = &l.plan.Pins.Revision
		case vllmcmd.PinTokenizerRevision:
			dst = &l.plan.Pins.TokenizerRevision
		case vllmcmd.PinSpeculativeRevision:
			dst = &l.plan.Pins.SpeculativeRevision
		default:
			continue
		}
		if *dst != "" && *dst != commit {
			// checkPins refuses two ids under one flag; this is one id
			// at two commits (a ref that moved while deciding).
			return &vllmcmd.RefusedError{Flag: f, Reason: fmt.Sprintf("would pin both commit %s and commit %s", *dst, commit),
				Hint: "give the commit with --revision"}
		}
		*dst = commit
	}
	return nil
}

// hasTokenizer reports whether --tokenizer names the tokenizer.
func (l *launcher) hasTokenizer() bool {
	for i := range l.cmd.Artifacts {
		if l.cmd.Artifacts[i].NamedBy("--tokenizer") {
			return true
		}
	}
	return false
}

// checkPins refuses a command line whose hub artifacts cannot all be
// pinned to what is verified: one flag (--revision) that vLLM applies to
// two different ids, or a tokenizer read from the served model at another
// revision than the one verified. served is the model vLLM serves (MODEL,
// or a speculators verifier).
func (l *launcher) checkPins(as []vllmcmd.Artifact, served *vllmcmd.Artifact) error {
	l.served = served
	byFlag := map[string]vllmcmd.Artifact{}
	for _, a := range as {
		if a.Location != vllmcmd.Hub {
			continue
		}
		for _, f := range a.PinFlags {
			prev, ok := byFlag[f]
			if ok && prev.HubID != a.HubID {
				return &vllmcmd.RefusedError{Flag: f,
					Reason: fmt.Sprintf("vLLM reads both %s (%s) and %s (%s) at this revision, and one commit cannot pin two repositories",
						strconv.Quote(prev.HubID), prev.Source, strconv.Quote(a.HubID), a.Source),
					Hint: fmt.Sprintf("download %s into a local folder (hf download %s --local-dir DIR) and name the folder", strconv.Quote(a.HubID), a.HubID)}
			}
			byFlag[f] = a
		}
	}
	if served != nil && served.Location == vllmcmd.Hub && !l.hasTokenizer() &&
		l.cmd.TokenizerRevision != "" && l.cmd.TokenizerRevision != served.Revision {
		return &vllmcmd.RefusedError{Flag: "--tokenizer-revision",
			Reason: fmt.Sprintf("vLLM would read the tokenizer of %s at revision %s, but the model at revision %s is what is verified",
				strconv.Quote(served.HubID), strconv.Quote(l.cmd.TokenizerRevision), strconv.Quote(hubRevision(served.Revision))),
			Hint: "remove --tokenizer-revision, or name the tokenizer with --tokenizer"}
	}
	return nil
}

func hubRevision(r string) string {
	if r == "" {
		return hfcache.DefaultRevision
	}
	return r
}

// speculators reads the decided MODEL's config.json and, when it names a
// speculators verifier, decides the verifier too: vLLM serves it in
// MODEL's place (with --revision and --trust-remote-code) and loads MODEL
// as its draft. Nothing is read from a MODEL that was denied (vLLM will
// not start then) or that vLLM does not read a config.json from (a GGUF
// file, object storage).
func (l *launcher) speculators(model vllmcmd.Artifact, d policy.Decision) error {
	if !d.Allowed() || model.GGUFDir != "" || model.Location == vllmcmd.Remote {
		return nil
	}
	dir := d.CanonicalPath
	switch {
	case d.PinnedPath != "":
		dir = d.PinnedPath // what vLLM reads
	case dir == "":
		dir = model.Path // not governed: the path as vLLM opens it
	}
	if fi, err := os.Stat(dir); dir == "" || err != nil || !fi.IsDir() {
		return nil // a single file, or an id not in the cache (vLLM fails offline)
	}
	path := filepath.Join(dir, "config.json")
	data, err := safefile.ReadFile(path, vllmcmd.MaxConfigJSON)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return &vllmcmd.RefusedError{Flag: "MODEL", Reason: fmt.Sprintf("cannot read its config.json for a speculators_config: %v", err),
			Hint: "make config.json a readable regular file"}
	}
	verifier, err := vllmcmd.SpeculatorsVerifier(data)
	if err != nil {
		return &vllmcmd.RefusedError{Flag: "MODEL", Reason: fmt.Sprintf("%s: %v", strconv.Quote(path), err), Hint: "fix the model's config.json"}
	}
	if verifier == "" {
		return nil
	}
	if err := l.speculatorsAllowed(model, verifier); err != nil {
		return err
	}
	va, err := l.cmd.VerifierArtifact(verifier, l.opt)
	if err != nil {
		return err
	}
	if err := l.checkPins(append(slices.Clone(l.cmd.Artifacts), va), &va); err != nil {
		return err
	}
	_, err = l.decide(va, -1)
	return err
}

// speculatorsAllowed refuses the speculators setups whose revisions or
// artifacts modelgate cannot pin down (see docs/vllm.md).
func (l *launcher) speculatorsAllowed(model vllmcmd.Artifact, verifier string) error {
	why := fmt.Sprintf("MODEL is a speculators model (its config.json names the verifier %s, which vLLM serves in its place)", strconv.Quote(verifier))
	switch {
	case model.Location == vllmcmd.Hub:
		return &vllmcmd.RefusedError{Flag: "MODEL",
			Reason: why + ": vLLM reads its config at --revision but loads it as the draft at its default branch, which modelgate cannot pin together",
			Hint:   fmt.Sprintf("download it into a local folder (hf download %s --local-dir DIR) and serve the folder", model.HubID)}
	case l.hasTokenizer():
		return &vllmcmd.RefusedError{Flag: "--tokenizer", Reason: why + ": vLLM replaces --tokenizer with the verifier",
			Hint: "remove --tokenizer"}
	case l.cmd.Speculative:
		return &vllmcmd.RefusedError{Flag: "--speculative-config", Reason: why + ": vLLM derives the speculative config from it",
			Hint: "remove --speculative-config"}
	}
	return nil
}

// trustRemoteCode refuses --trust-remote-code unless every model vLLM
// will run code from (MODEL, tokenizer, config, the draft, a verifier)
// verified: a skipped or ungoverned model's .py files are unchecked code.
func (l *launcher) trustRemoteCode() error {
	if !l.cmd.TrustRemoteCode {
		return nil
	}
	for _, d := range l.plan.Decisions {
		if d.Kind != policy.Model || d.Outcome == policy.Verified {
			continue
		}
		return &vllmcmd.RefusedError{Flag: "--trust-remote-code",
			Reason: fmt.Sprintf("%s %s is %s, not verified: vLLM would run its Python files unchecked", d.Source, strconv.Quote(d.Path), d.Outcome),
			Hint:   "give it a rule whose signer verifies a signature over its files, or remove --trust-remote-code"}
	}
	return nil
}
