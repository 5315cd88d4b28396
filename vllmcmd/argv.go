package vllmcmd

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Form is how vLLM is started.
type Form uint8

const (
	// Serve is `vllm serve [MODEL] ...`.
	Serve Form = iota + 1
	// APIServer is `python -m vllm.entrypoints.openai.api_server ...`.
	APIServer
)

func (f Form) String() string {
	switch f {
	case Serve:
		return "vllm serve"
	case APIServer:
		return "python -m " + apiServerModule
	}
	return "unknown"
}

// DefaultModel is what vLLM serves when no model is named (ModelConfig's
// default): a hub id, decided like any other.
const DefaultModel = "Qwen/Qwen3-0.6B"

const apiServerModule = "vllm.entrypoints.openai.api_server"

// pythonRE is an interpreter name: python, python3, python3.12. Other
// wrappers (env, uv run, a venv's activate) are refused: modelgate must
// know which program it executes.
var pythonRE = lazyRegexp(`^python(3(\.[0-9]{1,3})?)?$`)

// token is one argument on its way through vLLM's preprocessing.
type token struct {
	s    string
	argv int    // index in the user's argv; -1 if it came from elsewhere
	from string // where a token not from argv came from, for messages
}

// where says where a token came from, for messages.
func (t token) where() string {
	if t.argv >= 0 || t.from == "" {
		return ""
	}
	return " (from " + t.from + ")"
}

// recognise checks the command and returns the arguments vLLM parses:
// for `vllm serve` they start with "serve", as vLLM's own list does.
func recognise(argv []string) (Form, []token, error) {
	if len(argv) == 0 {
		return 0, nil, refuse("COMMAND", "write vllm serve MODEL ... or python -m "+apiServerModule+" ...", "no command given")
	}
	base := filepath.Base(argv[0])
	tokens := func(from int) []token {
		ts := make([]token, 0, len(argv)-from)
		for i := from; i < len(argv); i++ {
			ts = append(ts, token{s: argv[i], argv: i})
		}
		return ts
	}
	switch {
	case base == "vllm":
		if len(argv) < 2 || argv[1] != "serve" {
			return 0, nil, refuse(argv[0], "write vllm serve MODEL ...", "only the serve subcommand starts a server modelgate can gate")
		}
		return Serve, tokens(1), nil
	case pythonRE().MatchString(base):
		if len(argv) < 3 || argv[1] != "-m" || argv[2] != apiServerModule {
			return 0, nil, refuse(argv[0], "write "+argv[0]+" -m "+apiServerModule+" ... (no interpreter options)",
				"only %s -m %s is recognised", base, apiServerModule)
		}
		return APIServer, tokens(3), nil
	}
	return 0, nil, refuse(argv[0], "write vllm serve MODEL ... or python -m "+apiServerModule+" ...",
		"not a vLLM server command (the program must be vllm or python)")
}

// pyFlagMatch mirrors re.match(r"^NAME(=.+|$)", arg), which vLLM uses to
// find --model and --config before argparse runs: "." does not match a
// newline, and "$" also matches before a final newline.
func pyFlagMatch(arg, name string) bool {
	if arg == name || arg == name+"\n" {
		return true
	}
	rest, ok := strings.CutPrefix(arg, name+"=")
	return ok && rest != "" && rest[0] != '\n'
}

// moveModel does what FlexibleArgumentParser.parse_args does for
// `vllm serve`: the first --model X is moved to the MODEL position.
// MODEL given twice (positional and --model, or --model twice) is
// refused: vLLM would keep the first or fail, not the last.
func moveModel(args []token) ([]token, error) {
	idx := -1
	for i, t := range args {
		if pyFlagMatch(t.s, "--model") {
			if idx >= 0 {
				return nil, refuse("--model", "give the model once, right after serve",
					"given twice (vLLM serves the first, unlike other flags)")
			}
			idx = i
		}
	}
	if idx < 0 {
		return args, nil
	}
	if len(args) > 1 && !strings.HasPrefix(args[1].s, "-") {
		return nil, refuse("--model", "give the model once, right after serve",
			"MODEL %q is also given as a positional argument", args[1].s)
	}
	var model token
	rest := idx + 1
	if args[idx].s == "--model" {
		if idx+1 >= len(args) || strings.HasPrefix(args[idx+1].s, "-") {
			return nil, refuse("--model", "write --model MODEL", "expected one argument")
		}
		model, rest = args[idx+1], idx+2
	} else {
		model = args[idx]
		model.s = strings.TrimPrefix(model.s, "--model=")
	}
	out := make([]token, 0, len(args))
	out = append(out, args[0], model)
	out = append(out, args[1:idx]...)
	return append(out, args[rest:]...), nil
}

// configRead is the --config file vLLM will read.
type configRead struct {
	path string // absolute
	data []byte // exactly what was read
	argv int    // index of FILE in the user's argv
}

// insertConfig expands `--config FILE` as
// FlexibleArgumentParser._pull_args_from_config does: the file's
// arguments go right after the subcommand and MODEL, so that everything
// on the command line comes later and wins.
func insertConfig(form Form, args []token, opt *Options) ([]token, *configRead, error) {
	index := -1
	for i, t := range args {
		if strings.HasPrefix(t.s, "--config=") {
			return nil, nil, refuse(t.s, "write --config FILE (with a space)",
				"vLLM ignores --config=FILE without a word (it only expands --config FILE)")
		}
		if t.s == "--config" {
			if index >= 0 {
				return nil, nil, refuse("--config", "merge the files into one", "given twice (vLLM asserts a single config file)")
			}
			index = i
		}
	}
	if index < 0 {
		return args, nil, nil
	}
	if index == len(args)-1 {
		return nil, nil, refuse("--config", "write --config FILE.yaml", "no file given")
	}
	file := args[index+1].s
	if ext := file[strings.LastIndex(file, ".")+1:]; ext != "yaml" && ext != "yml" {
		return nil, nil, refuse("--config", "name a .yaml or .yml file", "%q: vLLM reads only .yaml and .yml files", file)
	}
	path := file
	if !filepath.IsAbs(path) {
		path = joinDir(opt.Dir, file) // open() does not expand ~
	}
	data, err := readBounded(opt.FS, path, maxConfigBytes)
	if err != nil {
		return nil, nil, refuse("--config", "name a readable YAML file", "%q: %s", file, statReason(err))
	}
	cfg, err := configArgs(data, file, form)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range cfg {
		if t.s == "--config" {
			return nil, nil, refuse("--config", "merge the files into one", "%q names another config file, which vLLM ignores", file)
		}
	}
	var out []token
	switch {
	case form == APIServer && strings.HasPrefix(args[0].s, "-"):
		out = append(append(out, cfg...), args[:index]...)
	case form == Serve:
		modelInCLI := len(args) > 1 && !strings.HasPrefix(args[1].s, "-")
		modelInConfig := false
		for _, t := range cfg {
			modelInConfig = modelInConfig || t.s == "--model"
		}
		if !modelInCLI && !modelInConfig {
			return nil, nil, refuse("MODEL", "name the model right after serve or as model: in the file",
				"no model given (vLLM refuses --config without one)")
		}
		n := 1
		if modelInCLI {
			n = 2
		}
		out = append(append(append(out, args[:n]...), cfg...), args[n:index]...)
	default: // api_server with a positional first: refused later anyway
		out = append(append(append(out, args[0]), cfg...), args[1:index]...)
	}
	return append(out, args[index+2:]...), &configRead{path: path, data: data, argv: args[index+1].argv}, nil
}

// normalize applies FlexibleArgumentParser's rewriting: "_" becomes "-"
// in a flag's name (up to the first "." and "="), --help=X becomes --help
// and -O3, -O=3 and "-O 3" become --optimization-level 3. Values are
// rewritten too when they start with "--", as vLLM does.
func normalize(args []token) []token {
	out := make([]token, 0, len(args))
	for i, t := range args {
		s := t.s
		switch {
		case strings.HasPrefix(s, "--help="):
			t.s = "--help"
		case strings.HasPrefix(s, "--"):
			key, value, hasValue := strings.Cut(s, "=")
			dot := strings.IndexByte(key, '.')
			if dot < 0 {
				dot = len(key)
			}
			key = "--" + strings.ReplaceAll(key[2:dot], "_", "-") + key[dot:]
			if hasValue {
				key += "=" + value
			}
			t.s = key
		case strings.HasPrefix(s, "-O") && s != "-O":
			level := s[2:]
			if level[0] == '=' {
				level = level[1:]
			}
			out = append(out, token{s: "--optimization-level", argv: t.argv, from: t.from})
			t.s = level
		case s == "-O" && i+1 < len(args) && len(args[i+1].s) == 1 && strings.Contains("0123", args[i+1].s):
			t.s = "--optimization-level"
		}
		out = append(out, t)
	}
	return out
}

// mergeDotted does what FlexibleArgumentParser does with dotted keys
// (--json-flag.key value): it removes them and appends one
// "--json-flag JSON" per flag at the very end, after everything else, so
// that they replace a plain --json-flag given anywhere. A dotted form of a
// watched flag is refused: it would change what vLLM loads behind a
// reading of the plain form.
func mergeDotted(args []token) ([]token, error) {
	out := make([]token, 0, len(args))
	type merged struct {
		key string
		tok token
	}
	var appended []merged
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		t := args[i]
		s := t.s
		if !strings.HasPrefix(s, "-") || !strings.Contains(s, ".") {
			out = append(out, t)
			continue
		}
		name, _, hasValue := strings.Cut(s, "=")
		if hasValue && !strings.Contains(name, ".") {
			out = append(out, t) // the "." is in the value
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, refuse(s, "give it a value", "dotted key without a value%s (vLLM crashes)", t.where())
			}
			i++ // its value, whatever it looks like
		}
		key := strings.TrimSuffix(name, "+")
		key, _, _ = strings.Cut(key, ".")
		if !longFlagRE().MatchString(key) {
			return nil, refuse(s, "write flags as --name, and give a value starting with - after = (--flag=-0.5)",
				"vLLM reads %q%s as a dotted flag (it starts with - and has a dot) and takes the next argument as its value", s, t.where())
		}
		if full, ok := watchedFlag(key); ok {
			return nil, refuse(name, fmt.Sprintf("write the whole value as JSON: %s '{...}'", full),
				"dotted form of %s%s: vLLM merges it into %s and lets it replace any plain %s", full, t.where(), full, full)
		}
		if !seen[key] {
			seen[key] = true
			appended = append(appended, merged{key, token{s: key, argv: -1, from: "dotted " + s}})
		}
	}
	for _, m := range appended {
		out = append(out, m.tok, token{s: "{}", argv: -1, from: m.tok.from})
	}
	return out, nil
}

// longFlagRE is the flag part of a dotted key that vLLM's merge can
// produce a flag from.
var longFlagRE = lazyRegexp(`^--[A-Za-z0-9][A-Za-z0-9-]*$`)

// negativeNumberRE is argparse's _negative_number_matcher (\d is any
// Unicode digit in Python): such an argument is a value, not a flag.
var negativeNumberRE = lazyRegexp(`^-\p{Nd}+$|^-\p{Nd}*\.\p{Nd}+$`)

// argKind is what argparse takes an argument for.
type argKind uint8

const (
	kindValue argKind = iota // 'A': a value or positional
	kindFlag                 // 'O': a flag
)

// classified is one argument as argparse's _parse_optional sees it.
type classified struct {
	kind     argKind
	spec     *flagSpec // nil for a flag modelgate does not know
	name     string    // the option string
	explicit *string   // the value after "=" (or glued to a short flag)
}

// classify mirrors argparse's _parse_optional for vLLM's parser.
// Abbreviations of watched flags are refused.
func classify(t token) (classified, error) {
	s := t.s
	if s == "" || s[0] != '-' || s == "-" {
		return classified{kind: kindValue}, nil
	}
	if s == "--" {
		return classified{}, refuse("--", "remove it", "argparse's end-of-options marker is read differently by Python versions")
	}
	if spec, ok := known[s]; ok {
		return classified{kind: kindFlag, spec: spec, name: s}, nil
	}
	key, value, hasValue := strings.Cut(s, "=")
	if hasValue {
		if spec, ok := known[key]; ok {
			return classified{kind: kindFlag, spec: spec, name: key, explicit: &value}, nil
		}
	}
	if full := abbreviated(key); len(full) > 0 {
		return classified{}, refuse(key, "write the full flag name",
			"abbreviation of %s%s", strings.Join(full, " or "), t.where())
	}
	if !strings.HasPrefix(s, "--") && len(s) > 2 {
		if spec, ok := known[s[:2]]; ok && spec.nargs != argNone {
			glued := s[2:]
			return classified{kind: kindFlag, spec: spec, name: s[:2], explicit: &glued}, nil
		}
	}
	if negativeNumberRE().MatchString(s) || strings.Contains(s, " ") {
		return classified{kind: kindValue}, nil
	}
	return classified{kind: kindFlag, name: key}, nil
}

// occurrence is one flag with the values argparse gives it.
type occurrence struct {
	spec *flagSpec // nil: not known to modelgate
	name string
	tok  token   // the flag itself
	vals []token // its values; with "=", a copy of the flag token holding the value
}

// parsed is the result of the argparse pass.
type parsed struct {
	occs       []occurrence
	positional *token // serve: MODEL as the first argument
}

// parseArgs mirrors argparse over the preprocessed arguments (without
// "serve"). A value not taken by any flag is refused, except MODEL right
// after serve: where it ends up depends on the Python version.
//
// For a flag modelgate does not know, the values that follow are assumed
// to be its own. That matters only when MODEL is not right after serve,
// where such a value might be read as MODEL instead: then it is refused.
func parseArgs(form Form, args []token) (*parsed, error) {
	p := &parsed{}
	var uncertain *occurrence
	for i := 0; i < len(args); i++ {
		t := args[i]
		c, err := classify(t)
		if err != nil {
			return nil, err
		}
		if c.kind == kindValue {
			if form == Serve && i == 0 {
				p.positional = &args[0]
				continue
			}
			if form == APIServer {
				return nil, refuse(t.s, "write --model MODEL",
					"positional argument%s: the api_server module ignores it (only --model names the model)", t.where())
			}
			return nil, refuse(t.s, "put MODEL right after serve, once",
				"unexpected argument%s: vLLM would take it as MODEL or reject it, depending on its Python version", t.where())
		}
		o := occurrence{spec: c.spec, name: c.name, tok: t}
		if c.explicit != nil {
			if c.spec != nil && c.spec.nargs == argNone {
				return nil, refuse(c.name, "write "+c.name+" alone", "takes no value%s, but %q was given", t.where(), *c.explicit)
			}
			v := t
			v.s = *c.explicit
			o.vals = []token{v}
			p.occs = append(p.occs, o)
			continue
		}
		want := argMany // unknown flags: assume they take what follows
		if c.spec != nil {
			want = c.spec.nargs
		}
		for want != argNone && i+1 < len(args) {
			next, err := classify(args[i+1])
			if err != nil {
				return nil, err
			}
			if next.kind != kindValue {
				break
			}
			i++
			o.vals = append(o.vals, args[i])
			if want != argMany {
				break
			}
		}
		if c.spec != nil && len(o.vals) == 0 && (want == argOne || want == argMany) {
			return nil, refuse(c.name, "give it a value", "expected a value%s", t.where())
		}
		if c.spec == nil && len(o.vals) > 0 && uncertain == nil {
			uncertain = &o
		}
		p.occs = append(p.occs, o)
	}
	if form == Serve && p.positional == nil && uncertain != nil {
		return nil, refuse(uncertain.name, "put MODEL right after serve",
			"modelgate does not know this flag%s, so cannot tell whether vLLM reads %q as its value or as MODEL",
			uncertain.tok.where(), uncertain.vals[0].s)
	}
	return p, nil
}

// preprocess runs vLLM's own rewriting of the arguments, in vLLM's order,
// and then the argparse pass.
func preprocess(form Form, args []token, opt *Options) (*parsed, *configRead, error) {
	var err error
	if form == Serve {
		if args, err = moveModel(args); err != nil {
			return nil, nil, err
		}
		if err = servedNameCheck(args); err != nil {
			return nil, nil, err
		}
	}
	args, config, err := insertConfig(form, args, opt)
	if err != nil {
		return nil, nil, err
	}
	args = normalize(args)
	if args, err = mergeDotted(args); err != nil {
		return nil, nil, err
	}
	if form == Serve {
		args = args[1:] // "serve"
	}
	p, err := parseArgs(form, args)
	return p, config, err
}

// servedNameCheck mirrors a ValueError vLLM raises before parsing: MODEL
// missing from its place while --served-model-name is given.
func servedNameCheck(args []token) error {
	if len(args) < 2 || !strings.HasPrefix(args[1].s, "-") {
		return nil
	}
	served := false
	for _, t := range args {
		if pyFlagMatch(t.s, "--config") {
			return nil
		}
		for _, n := range []string{"--served-model-name", "--served_model_name", "--served-model_name", "--served_model-name"} {
			served = served || pyFlagMatch(t.s, n)
		}
	}
	if served {
		return refuse("MODEL", "put MODEL right after serve", "--served-model-name without MODEL right after serve (vLLM refuses this)")
	}
	return nil
}
