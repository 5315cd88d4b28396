package vllmcmd

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/internal/strictjson"
)

// Pins are the commits modelgate verified hub artifacts at, by the flag
// that pins them in vLLM's argv (Artifact.RevisionFlag). Empty fields
// add nothing.
type Pins struct {
	// Revision pins MODEL (and whatever else --revision applies to:
	// --hf-config-path, --generation-config); --code-revision, when the
	// user set one, is pinned to the same commit.
	Revision string
	// TokenizerRevision pins --tokenizer-revision.
	TokenizerRevision string
	// SpeculativeRevision pins "revision" (and "code_revision", when set)
	// inside --speculative-config.
	SpeculativeRevision string
}

// RewriteOptions are the changes Rewrite makes to the user's argv.
type RewriteOptions struct {
	Pins Pins
	// Listen, when set, replaces where vLLM listens (modelgate exec
	// --listen).
	Listen *Listen
	// ConfigCopy, when set, replaces the --config file's name: an
	// absolute .yaml path of a file holding exactly Command.ConfigData
	// that only modelgate can write, so that vLLM cannot read a file
	// changed after modelgate read it.
	ConfigCopy string
	// Copies are local paths vLLM must load artifacts from instead of
	// where the command line names them, by index in Command.Artifacts:
	// the verified copies of modelgate exec --pin-dir. A copied hub
	// artifact needs no pin (it is a local folder now).
	Copies map[int]string
}

// Listen is where vLLM listens behind the gate: Host and Port, or UDS.
type Listen struct {
	Host string
	Port int
	UDS  string
}

// Rewrite returns the argv vLLM is executed with: the user's, byte for
// byte, with the pins appended (a later flag wins in argparse, and the
// command line wins over --config), the --config file's name replaced by
// ConfigCopy, for Listen the user's --host, --port and --uds removed and
// Listen's appended, and for Copies each copied artifact named again
// with its copy's path (see copyEdits).
func (c *Command) Rewrite(o RewriteOptions) ([]string, error) {
	pins, listen := o.Pins, o.Listen
	for _, p := range []struct{ name, value string }{
		{"Pins.Revision", pins.Revision}, {"Pins.TokenizerRevision", pins.TokenizerRevision},
		{"Pins.SpeculativeRevision", pins.SpeculativeRevision},
	} {
		if p.value != "" && !hfcache.IsCommit(p.value) {
			return nil, refuse(p.name, "pin a 40-hex commit", "%q is not a commit", p.value)
		}
	}
	edits, err := c.copyEdits(o.Copies)
	if err != nil {
		return nil, err
	}
	drop := map[int]bool{}
	tail := edits.tail
	if pins.Revision != "" {
		tail = append(tail, "--revision", pins.Revision)
		if c.CodeRevision != "" {
			tail = append(tail, "--code-revision", pins.Revision)
		}
	}
	if pins.TokenizerRevision != "" {
		tail = append(tail, "--tokenizer-revision", pins.TokenizerRevision)
	}
	if pins.SpeculativeRevision != "" || edits.spec != "" {
		if c.speculator == nil {
			return nil, refuse("Pins.SpeculativeRevision", "pin only a --speculative-config model", "no --speculative-config to pin")
		}
		tail = append(tail, "--speculative-config", speculative(c.speculator.obj, pins.SpeculativeRevision, edits.spec))
	}
	if listen != nil {
		flags, err := listen.flags()
		if err != nil {
			return nil, err
		}
		if c.configUDS && listen.UDS == "" {
			return nil, refuse("--uds", "remove uds from "+c.ConfigFile,
				"set in the config file, where modelgate cannot replace it, and vLLM would listen there instead of on the gate's port")
		}
		for _, i := range c.removable {
			drop[i] = true
		}
		tail = append(tail, flags...)
	}
	if o.ConfigCopy != "" {
		if err := c.checkConfigCopy(o.ConfigCopy); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(c.Argv)+len(tail))
	for i, a := range c.Argv {
		switch r, ok := edits.replace[i]; {
		case drop[i]:
		case i == c.configArg && o.ConfigCopy != "":
			out = append(out, o.ConfigCopy)
		case ok:
			out = append(out, r)
		default:
			out = append(out, a)
		}
	}
	return append(out, tail...), nil
}

// checkConfigCopy makes sure vLLM will read the copy as it read the file.
func (c *Command) checkConfigCopy(p string) error {
	switch {
	case c.ConfigFile == "":
		return refuse("ConfigCopy", "copy only a --config file", "the command line has no --config")
	case !filepath.IsAbs(p):
		return refuse("ConfigCopy", "give an absolute path", "%q is not absolute", p)
	case !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml"):
		return refuse("ConfigCopy", "end the name in .yaml", "%q: vLLM reads only .yaml and .yml files", p)
	}
	return nil
}

func (l *Listen) flags() ([]string, error) {
	switch {
	case l.UDS != "" && l.Host == "" && l.Port == 0:
		if strings.HasPrefix(l.UDS, "-") {
			return nil, refuse("Listen.UDS", "use an absolute socket path", "%q looks like a flag", l.UDS)
		}
		return []string{"--uds", l.UDS}, nil
	case l.UDS == "" && l.Host != "" && l.Port > 0 && l.Port <= 65535:
		if strings.HasPrefix(l.Host, "-") || strings.ContainsAny(l.Host, " \t\n") {
			return nil, refuse("Listen.Host", "use an address such as 127.0.0.1", "%q is not a host", l.Host)
		}
		return []string{"--host", l.Host, "--port", strconv.Itoa(l.Port)}, nil
	}
	return nil, refuse("Listen", "give Host and Port, or UDS", "%+v is not one listening address", *l)
}

// speculative returns the --speculative-config JSON with "revision" (and
// "code_revision", when present) set to commit and "model" to model, each
// when not "", every other member as it was. The whole JSON is given
// again: a dotted --speculative-config.revision would replace it, not
// merge.
func speculative(obj *strictjson.Value, commit, model string) string {
	if commit != "" {
		rev := strictjson.NewString(commit)
		obj = obj.With("revision", rev)
		if m := obj.Member("code_revision"); m != nil && m.Value.Kind != strictjson.Null {
			obj = obj.With("code_revision", rev)
		}
	}
	if model != "" {
		obj = obj.With("model", strictjson.NewString(model))
	}
	return string(strictjson.Encode(obj))
}
