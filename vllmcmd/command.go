package vllmcmd

import (
	"path/filepath"
	"strings"

	"github.com/modelgate/modelgate/internal/strictjson"
)

// Options says where vLLM will run and what the operator allows.
type Options struct {
	// Dir is the directory vLLM will run in, absolute: relative paths on
	// its command line and in its --config file are relative to it.
	Dir string
	// Home is the home directory vLLM will see ($HOME), for "~/...".
	Home string
	// FS is the file system vLLM will see; nil means OSFS.
	FS FS
	// AllowFlags are the code-loading flags the operator allows
	// (modelgate exec --allow-flag NAME), such as "--worker-cls". See
	// CodeFlagNames.
	AllowFlags []string
}

// Command is a vLLM command line as vLLM will read it.
type Command struct {
	Form Form
	// Argv is a copy of the command line as given.
	Argv []string
	// ConfigFile is the --config file vLLM will read (absolute path), or
	// "". ConfigData is what modelgate read from it: vLLM reads the file
	// again later, so give it a private copy of ConfigData
	// (RewriteOptions.ConfigCopy) to read exactly what was decided.
	ConfigFile string
	ConfigData []byte
	// Model is MODEL as vLLM will read it, before resolution: the
	// positional argument, --model, the config file's model: or
	// DefaultModel.
	Model string
	// Artifacts are what vLLM will load, MODEL first (spec vllm.md §2).
	Artifacts []Artifact
	// TrustRemoteCode is --trust-remote-code: vLLM will run the model's
	// own Python files. Allow it only over a verified model.
	TrustRemoteCode bool
	// Speculative is set when --speculative-config (or --spec-model) is
	// given, whatever it names: speculative decoding is configured on the
	// command line.
	Speculative bool
	// CodeFlags are the code-loading flags that are set; Parse refuses any
	// the operator did not allow.
	CodeFlags []CodeFlag
	// Revision, TokenizerRevision and CodeRevision are the flags' values,
	// "" when unset.
	Revision, TokenizerRevision, CodeRevision string
	// DownloadDir is --download-dir resolved like a path (absolute), or "".
	// vLLM puts weights there and still reads config and tokenizer from the
	// Hugging Face cache (spec vllm.md §4).
	DownloadDir string
	// Headless is --headless: vLLM loads the model without serving HTTP.
	Headless bool
	// EnableLoRA is --enable-lora.
	EnableLoRA bool
	// ServedModelNames is --served-model-name (nil: vLLM serves Model's
	// name). The gate relies on these names.
	ServedModelNames []string
	// RootPath is --root-path, the prefix vLLM's routes live under.
	RootPath string
	// Host, Port and UDS are where the user asked vLLM to listen, "" when
	// unset. Rewrite replaces them for `modelgate exec --listen`.
	Host, Port, UDS string
	// APIKeys are the values of --api-key as given (empty ones included),
	// nil without the flag. vLLM requires one of the non-empty ones on its
	// API; without the flag it takes VLLM_API_KEY (see
	// launch.Plan.APIKeys).
	APIKeys []string
	// TLSFlag is --ssl-keyfile or --ssl-certfile when set: vLLM then
	// serves HTTPS, which the gate does not speak to it.
	TLSFlag string

	removable  []int // argv indices of the user's --host, --port, --uds
	configUDS  bool  // --uds comes from the config file
	configArg  int   // argv index of the --config file's name, or -1
	modelArg   int   // argv index of MODEL as the positional after serve, or -1
	speculator *specConfig
	loraItems  []token           // the --lora-modules group as given
	mmLoRAs    *strictjson.Value // the --default-mm-loras object
}

// CodeFlag is a flag that makes vLLM import or run Python code.
type CodeFlag struct {
	Flag  string // the flag, as --allow-flag names it: "--worker-cls"
	Value string // what it names, as written
}

// Parse reads argv (the whole command: "vllm" "serve" ... or "python" "-m"
// ...) the way vLLM will and returns what vLLM will load. It refuses a
// command line vLLM could read differently, and code-loading flags that
// opt.AllowFlags does not name; every refusal is a *RefusedError.
func Parse(argv []string, opt Options) (*Command, error) {
	if !filepath.IsAbs(opt.Dir) {
		return nil, refuse("Options.Dir", "pass the absolute directory vLLM will run in", "%q is not absolute", opt.Dir)
	}
	if opt.FS == nil {
		opt.FS = OSFS{}
	}
	allowed, err := allowSet(opt.AllowFlags)
	if err != nil {
		return nil, err
	}
	form, args, err := recognise(argv)
	if err != nil {
		return nil, err
	}
	p, config, err := preprocess(form, args, &opt)
	if err != nil {
		return nil, err
	}
	c := &Command{Form: form, Argv: append([]string(nil), argv...), configArg: -1, modelArg: -1}
	if config != nil {
		c.ConfigFile, c.ConfigData, c.configArg = config.path, config.data, config.argv
	}
	v := collect(p.occs)
	if err := c.readSettings(v); err != nil {
		return nil, err
	}
	c.Model = DefaultModel
	if m, ok := v.last[roleModel]; ok {
		c.Model = m.vals[0].s
	}
	if p.positional != nil {
		c.Model, c.modelArg = p.positional.s, p.positional.argv
	}
	r := &resolver{opt: &opt}
	if err := c.readArtifacts(v, r); err != nil {
		return nil, err
	}
	if err := c.readCodeFlags(v, allowed); err != nil {
		return nil, err
	}
	return c, nil
}

// values are the flags' occurrences by role.
type values struct {
	last map[role]*occurrence
	all  map[role][]*occurrence
}

func collect(occs []occurrence) *values {
	v := &values{last: map[role]*occurrence{}, all: map[role][]*occurrence{}}
	for i := range occs {
		o := &occs[i]
		if o.spec == nil || o.spec.role == roleOther {
			continue
		}
		v.last[o.spec.role] = o
		v.all[o.spec.role] = append(v.all[o.spec.role], o)
	}
	return v
}

// str returns the last value of a one-value flag. optional flags use
// vLLM's optional_type: "" and "None" mean unset.
func (v *values) str(r role, optional bool) (string, *occurrence) {
	o, ok := v.last[r]
	if !ok || len(o.vals) == 0 {
		return "", nil
	}
	s := o.vals[0].s
	if optional && (s == "" || s == "None") {
		return "", nil
	}
	return s, o
}

// flag returns a boolean flag's value: the last of --X and --no-X wins.
func (v *values) flag(r role) bool {
	o, ok := v.last[r]
	return ok && !o.spec.off
}

// readSettings reads the flags that are reported rather than resolved.
func (c *Command) readSettings(v *values) error {
	for _, r := range []role{roleOmni, roleGRPC} {
		if v.flag(r) {
			o := v.last[r]
			return refuse(o.name, "remove it", "starts a different server%s, which modelgate cannot gate", o.tok.where())
		}
	}
	c.TrustRemoteCode = v.flag(roleTrustRemoteCode)
	c.Headless = v.flag(roleHeadless)
	c.EnableLoRA = v.flag(roleEnableLoRA)
	c.Revision, _ = v.str(roleRevision, true)
	c.TokenizerRevision, _ = v.str(roleTokenizerRevision, true)
	c.CodeRevision, _ = v.str(roleCodeRevision, true)
	if c.CodeRevision != "" && c.CodeRevision != c.Revision {
		return refuse("--code-revision", "remove --code-revision (the code then comes from the verified --revision)",
			"%q differs from --revision %q: vLLM would run code from a revision that is not verified", c.CodeRevision, c.Revision)
	}
	c.RootPath, _ = v.str(roleRootPath, true)
	c.Host, _ = v.str(roleHost, true)
	c.Port, _ = v.str(rolePort, false)
	var uds *occurrence
	c.UDS, uds = v.str(roleUDS, true)
	c.configUDS = uds != nil && uds.tok.argv < 0
	if o, ok := v.last[roleServedModelName]; ok {
		for _, t := range o.vals {
			c.ServedModelNames = append(c.ServedModelNames, t.s)
		}
	}
	if o, ok := v.last[roleAPIKey]; ok {
		c.APIKeys = []string{}
		for _, t := range o.vals {
			c.APIKeys = append(c.APIKeys, t.s)
		}
	}
	for _, r := range []role{roleSSLKeyfile, roleSSLCertfile} {
		if _, o := v.str(r, true); o != nil && c.TLSFlag == "" {
			c.TLSFlag = o.spec.name
		}
	}
	for _, r := range []role{roleHost, rolePort, roleUDS} {
		for _, o := range v.all[r] {
			if o.tok.argv >= 0 {
				c.removable = append(c.removable, o.tok.argv)
			}
			for _, t := range o.vals {
				if t.argv >= 0 {
					c.removable = append(c.removable, t.argv)
				}
			}
		}
	}
	return nil
}

// readArtifacts resolves everything of spec §2 that vLLM will load.
func (c *Command) readArtifacts(v *values, r *resolver) error {
	model, err := r.model(Artifact{Kind: KindModel, Source: "MODEL", Value: c.Model,
		Revision: c.Revision, RevisionFlag: PinRevision, Weights: true, refs: []argRef{{kind: refModel}}}, true)
	if err != nil {
		return err
	}
	c.add(model)
	if c.TrustRemoteCode && len(model.GGUFFiles) > 0 {
		return refuse("--trust-remote-code", "serve a signed model folder instead of a single GGUF file",
			"MODEL %q is a GGUF file: vLLM would run Python files from its folder, which is not what is verified", c.Model)
	}
	for _, f := range []struct {
		r        role
		source   string
		optional bool
		revision string
		pin      string
	}{
		{roleModelWeights, "--model-weights", true, c.Revision, PinRevision},
		{roleTokenizer, "--tokenizer", true, c.TokenizerRevision, PinTokenizerRevision},
		{roleHFConfigPath, "--hf-config-path", true, c.Revision, PinRevision},
		{roleGenerationConfig, "--generation-config", false, c.Revision, PinRevision},
	} {
		value, o := v.str(f.r, f.optional)
		if o == nil || f.r == roleGenerationConfig && (value == "auto" || value == "vllm") {
			continue
		}
		a, err := r.model(Artifact{Kind: KindModel, Source: f.source, Value: value, Revision: f.revision, RevisionFlag: f.pin,
			Weights: f.r == roleModelWeights, refs: []argRef{{kind: refFlag, flag: f.source}}}, false)
		if err != nil {
			return err
		}
		c.add(a)
	}
	if dir, o := v.str(roleDownloadDir, true); o != nil {
		if c.DownloadDir, err = r.path("--download-dir", dir); err != nil {
			return err
		}
	}
	if err := c.readSpeculative(v, r, model); err != nil {
		return err
	}
	if err := c.readLoRAModules(v, r); err != nil {
		return err
	}
	return c.readDefaultMMLoRAs(v, r)
}

// add appends a, or merges a model into an earlier one naming the same
// thing (the tokenizer that is MODEL, MTP's draft that is MODEL). LoRA
// adapters stay apart: each has its own name.
func (c *Command) add(a Artifact) {
	a.setPinFlags()
	for i := range c.Artifacts {
		if a.Kind != KindModel {
			break
		}
		b := &c.Artifacts[i]
		if b.Kind == a.Kind && b.Location == a.Location && b.Path == a.Path && b.HubID == a.HubID &&
			b.Revision == a.Revision && b.URI == a.URI && b.GGUFQuant == a.GGUFQuant {
			b.Source += ", " + a.Source
			b.Weights = b.Weights || a.Weights
			b.refs = append(b.refs, a.refs...)
			for _, f := range a.PinFlags {
				if !contains(b.PinFlags, f) {
					b.PinFlags = append(b.PinFlags, f)
				}
			}
			return
		}
	}
	c.Artifacts = append(c.Artifacts, a)
}

// setPinFlags sets PinFlags for an artifact of its own: its RevisionFlag,
// when it is a hub id that flag pins.
func (a *Artifact) setPinFlags() {
	a.PinFlags = nil
	if a.Location == Hub && a.RevisionFlag != "" {
		a.PinFlags = []string{a.RevisionFlag}
	}
}

// allowSet checks the operator's --allow-flag names.
func allowSet(names []string) (map[string]bool, error) {
	allowed := map[string]bool{}
	for _, n := range names {
		flag := "--" + strings.ReplaceAll(strings.TrimLeft(n, "-"), "_", "-")
		if !codeFlags[flag] {
			return nil, refuse("--allow-flag", "name one of "+strings.Join(CodeFlagNames(), ", "),
				"%q is not a flag that loads code", n)
		}
		allowed[flag] = true
	}
	return allowed, nil
}
