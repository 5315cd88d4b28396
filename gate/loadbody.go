package gate

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/strictjson"
)

// MaxLoadBody bounds the body of a load or unload request (spec §5): the
// requests name an adapter and a path, nothing more.
const MaxLoadBody = 64 << 10

// loadRequest is what a load request asks vLLM to do.
type loadRequest struct {
	name string // lora_name / name
	path string // lora_path / src, as given
}

// fieldType is the JSON type a known key must have.
type fieldType uint8

const (
	fString fieldType = iota // a non-empty string
	fBool
	fInt // an integer or null
)

// bodySchema lists the keys a strict body may have. vLLM's pydantic
// models ignore unknown keys, but the gate refuses them: a key it does not
// know could be one a newer vLLM reads to decide what to load.
type bodySchema struct {
	what     string // for messages: "load_lora_adapter body"
	fields   map[string]fieldType
	required []string
}

// The bodies of spec §5: vLLM's LoadLoRAAdapterRequest and
// UnloadLoRAAdapterRequest (vllm/entrypoints/serve/lora/protocol.py), and
// SageMaker's SageMakerRegisterLoRAAdapterRequest
// (model_hosting_container_standards/sagemaker/lora/models/request.py,
// whose pin and prompt_prefix vLLM ignores).
var (
	loadSchema = bodySchema{
		what:     "load_lora_adapter request",
		fields:   map[string]fieldType{"lora_name": fString, "lora_path": fString, "load_inplace": fBool, "is_3d_lora_weight": fBool},
		required: []string{"lora_name", "lora_path"},
	}
	unloadSchema = bodySchema{
		what:     "unload_lora_adapter request",
		fields:   map[string]fieldType{"lora_name": fString, "lora_int_id": fInt},
		required: []string{"lora_name"},
	}
	adapterSchema = bodySchema{
		what:     "SageMaker adapter request",
		fields:   map[string]fieldType{"name": fString, "src": fString, "preload": fBool, "pin": fBool, "prompt_prefix": fString},
		required: []string{"name", "src"},
	}
)

// parseStrict reads a load-type body: one JSON object, keys spelled
// exactly (Python compares them exactly; Go's encoding/json would accept
// "Lora_Path"), no key twice (Python keeps the last, other readers the
// first), no unknown key, each value of its type. It returns the string
// values by key.
func parseStrict(data []byte, s bodySchema) (map[string]string, error) {
	v, err := strictjson.Parse(data)
	if err != nil {
		var se *strictjson.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("the %s is not valid JSON: %s at byte %d", s.what, se.Msg, se.Offset)
		}
		return nil, fmt.Errorf("the %s is not valid JSON: %v", s.what, err)
	}
	if v.Kind != strictjson.Object {
		return nil, fmt.Errorf("the %s must be a JSON object, not %s", s.what, v.Kind)
	}
	out := make(map[string]string, len(v.Members))
	for _, m := range v.Members {
		if m.Repeated {
			return nil, fmt.Errorf("the %s has the key %s twice", s.what, strconv.Quote(m.Key))
		}
		t, known := s.fields[m.Key]
		if !known {
			if k := foldMatch(m.Key, s.fields); k != "" {
				return nil, fmt.Errorf("the %s has the key %s: keys are case-sensitive, write %s", s.what, strconv.Quote(m.Key), strconv.Quote(k))
			}
			return nil, fmt.Errorf("the %s has the unknown key %s (known: %s)", s.what, strconv.Quote(m.Key), keyList(s.fields))
		}
		if err := checkType(m.Value, t); err != nil {
			return nil, fmt.Errorf("the %s: %s %v", s.what, strconv.Quote(m.Key), err)
		}
		if t == fString {
			out[m.Key] = m.Value.Str
		}
	}
	for _, k := range s.required {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("the %s has no %s", s.what, strconv.Quote(k))
		}
	}
	return out, nil
}

func checkType(v *strictjson.Value, t fieldType) error {
	switch t {
	case fString:
		if v.Kind != strictjson.String {
			return fmt.Errorf("must be a string, not %s", v.Kind)
		}
		if v.Str == "" {
			return fmt.Errorf("must not be empty")
		}
		if strings.ContainsRune(v.Str, 0) {
			return fmt.Errorf("must not contain a NUL character")
		}
	case fBool:
		if v.Kind != strictjson.Bool {
			return fmt.Errorf("must be true or false, not %s", v.Kind)
		}
	case fInt:
		if v.Kind == strictjson.Null {
			return nil
		}
		if v.Kind != strictjson.Number {
			return fmt.Errorf("must be an integer, not %s", v.Kind)
		}
		if _, err := strconv.ParseInt(v.Str, 10, 64); err != nil {
			return fmt.Errorf("must be an integer, not %s", v.Str)
		}
	}
	return nil
}

// foldMatch returns the known key that k spells in another case, or "".
func foldMatch(k string, fields map[string]fieldType) string {
	for f := range fields {
		if strings.EqualFold(f, k) {
			return f
		}
	}
	return ""
}

func keyList(fields map[string]fieldType) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, strconv.Quote(k))
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// parseLoadBody reads POST /v1/load_lora_adapter.
func parseLoadBody(data []byte) (loadRequest, error) {
	f, err := parseStrict(data, loadSchema)
	if err != nil {
		return loadRequest{}, err
	}
	return loadRequest{name: f["lora_name"], path: f["lora_path"]}, nil
}

// parseUnloadBody reads POST /v1/unload_lora_adapter and returns the name.
func parseUnloadBody(data []byte) (string, error) {
	f, err := parseStrict(data, unloadSchema)
	if err != nil {
		return "", err
	}
	return f["lora_name"], nil
}

// parseAdapterRequest reads POST /adapters. SageMaker's transform reads
// the JSON body and, only when the body is not JSON (empty included),
// falls back to the query string (?name=&src=). The gate takes the body
// when it has one and the query otherwise, and refuses a request that
// gives both, rather than let a reader pick.
func parseAdapterRequest(body []byte, rawQuery string) (loadRequest, error) {
	q, err := parseQuery(rawQuery)
	if err != nil {
		return loadRequest{}, err
	}
	if !blank(body) {
		for _, k := range []string{"name", "src"} {
			if _, ok := q[k]; ok {
				return loadRequest{}, fmt.Errorf("the SageMaker adapter request has a body and %s in the query string: give one or the other", strconv.Quote(k))
			}
		}
		f, err := parseStrict(body, adapterSchema)
		if err != nil {
			return loadRequest{}, err
		}
		return loadRequest{name: f["name"], path: f["src"]}, nil
	}
	var req loadRequest
	for k, vs := range q {
		switch k {
		case "name":
			req.name = vs
		case "src":
			req.path = vs
		case "preload", "pin", "prompt_prefix":
		default:
			if fk := foldMatch(k, adapterSchema.fields); fk != "" {
				return loadRequest{}, fmt.Errorf("the query string has %s: parameter names are case-sensitive, write %s", strconv.Quote(k), strconv.Quote(fk))
			}
		}
	}
	if req.name == "" || req.path == "" {
		return loadRequest{}, fmt.Errorf("the SageMaker adapter request needs a non-empty name and src, in a JSON body or in the query string")
	}
	if strings.ContainsRune(req.path, 0) || strings.ContainsRune(req.name, 0) {
		return loadRequest{}, fmt.Errorf("name and src must not contain a NUL character")
	}
	return req, nil
}

// parseQuery parses a query string strictly: no parameter twice (Starlette
// keeps the last), valid escapes and UTF-8, "&" as the only separator (Go
// refuses ";", which some Python parsers split on), and no raw byte beyond
// ASCII (Starlette decodes the query string as Latin-1 before it
// percent-decodes it, so raw "é" would be "Ã©" to vLLM).
func parseQuery(raw string) (map[string]string, error) {
	if !ascii(raw) {
		return nil, fmt.Errorf("the query string has a byte beyond ASCII that is not percent-encoded")
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("the query string cannot be parsed: %v", err)
	}
	out := make(map[string]string, len(vals))
	for k, vs := range vals {
		if len(vs) > 1 {
			return nil, fmt.Errorf("the query string has %s %d times", strconv.Quote(k), len(vs))
		}
		if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
			return nil, fmt.Errorf("the query string is not valid UTF-8")
		}
		out[k] = vs[0]
	}
	return out, nil
}

// blank reports whether a body is empty or only JSON whitespace, which
// Python's json.loads refuses like an empty one.
func blank(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return false
		}
	}
	return true
}
