package gate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/strictjson"
)

// maxModelName bounds a model name read from a form field.
const maxModelName = 4096

// findModels returns the model names a request body gives vLLM: the
// top-level "model" of a JSON object (or of each object of a top-level
// JSON list), or the "model" field of a form (multipart or URL-encoded,
// as the speech-to-text routes read it). An empty name means vLLM's
// default model. Only the model is read: the rest of the body is checked
// to be well formed and otherwise ignored.
//
// Anything that could make the gate and vLLM see different names is an
// error, so the request is refused rather than guessed at: the key twice
// (Python keeps the last), "Model" or "MODEL" (vLLM ignores it, a lenient
// reader might not), a name that is not a string, invalid UTF-8 or JSON
// that Python might read differently.
func findModels(contentType string, body []byte) ([]string, error) {
	media := ""
	var params map[string]string
	if contentType != "" && contentType != "application/json" {
		var err error
		media, params, err = mime.ParseMediaType(contentType)
		if err != nil {
			return nil, fmt.Errorf("the Content-Type %s cannot be parsed: %v", strconv.Quote(contentType), err)
		}
	}
	var names []string
	var err error
	switch media {
	case "multipart/form-data":
		if err = multipartType(contentType, params); err == nil {
			names, err = multipartModels(params["boundary"], body)
		}
	case "application/x-www-form-urlencoded":
		names, err = formModels(body)
	default:
		return jsonModels(body)
	}
	if err != nil {
		return nil, err
	}
	// A route that reads the raw body as JSON whatever its Content-Type
	// would see these too.
	if looksJSON(body) {
		more, err := jsonModels(body)
		if err != nil {
			return nil, err
		}
		names = append(names, more...)
	}
	return names, nil
}

func looksJSON(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// jsonModels reads the model names of a JSON body. A body that is valid
// JSON (json.Valid: one validating pass that allocates nothing) is then
// walked at its top level only, every other value skipped by its quotes
// and brackets (scanModels); any other body goes through encoding/json's
// tokenizer (tokenModels), which says where and why it is not JSON. The
// two read the same names and refuse the same bodies with the same words
// (FuzzJSONModels holds them to it); the first costs a fraction of the
// second, on the path of every inference request.
func jsonModels(body []byte) ([]string, error) {
	if blank(body) {
		return nil, nil
	}
	if !utf8.Valid(body) {
		return nil, errors.New("the body is not valid UTF-8")
	}
	if json.Valid(body) {
		return scanModels(body)
	}
	return tokenModels(body)
}

// tokenModels is jsonModels with encoding/json's tokenizer, for bodies
// that are not valid JSON (and as the reference of the fast path).
func tokenModels(body []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	var names []string
	switch tok {
	case json.Delim('{'):
		if names, err = objectModels(dec, nil); err != nil {
			return nil, err
		}
	case json.Delim('['):
		for dec.More() {
			e := elementModels{}
			if err := dec.Decode(&e); err != nil {
				return nil, jsonError(err)
			}
			names = append(names, e.names...)
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonError(err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the body is not one JSON value: data follows it")
	}
	return names, nil
}

// scanModels reads the model names of body, which json.Valid accepted:
// the "model" of a top-level object, or of each object in a top-level
// list. It checks the keys as objectModels does.
func scanModels(body []byte) ([]string, error) {
	s := &jsonScan{b: body}
	s.space()
	switch body[s.i] {
	case '{':
		return s.object(nil)
	case '[':
		s.i++
		var names []string
		for {
			s.space()
			switch body[s.i] {
			case ']':
				return names, nil
			case ',':
				s.i++
				s.space()
			}
			if body[s.i] != '{' {
				s.value()
				continue
			}
			var err error
			if names, err = s.object(names); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

// jsonScan walks valid JSON: it relies on the input being valid and
// checks nothing json.Valid has checked.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str skips the string at s.i and returns what is between its quotes.
func (s *jsonScan) str() []byte {
	start := s.i + 1
	j := start
	for {
		q := j + bytes.IndexByte(s.b[j:], '"')
		// A quote preceded by an odd number of backslashes is escaped.
		bs := 0
		for k := q - 1; k >= start && s.b[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			s.i = q + 1
			return s.b[start:q]
		}
		j = q + 1
	}
}

// value skips the value at s.i.
func (s *jsonScan) value() {
	switch s.b[s.i] {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					s.i++
					return
				}
			}
			s.i++
		}
	default: // a number, true, false or null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			s.i++
		}
	}
}

// modelKey is the key whose value names the model.
var modelKey = []byte("model")

// object reads the members of the object at s.i, appending its model to
// names.
func (s *jsonScan) object(names []string) ([]string, error) {
	s.i++ // {
	found := false
	for {
		s.space()
		switch s.b[s.i] {
		case '}':
			s.i++
			return names, nil
		case ',':
			s.i++
			s.space()
		}
		keyStart := s.i
		key := s.str()
		if bytes.IndexByte(key, '\\') >= 0 {
			// Escaped ("mod\u0065l"): compared decoded, as Python
			// and encoding/json's tokenizer do.
			var k string
			if err := json.Unmarshal(s.b[keyStart:s.i], &k); err != nil {
				return nil, jsonError(err)
			}
			key = []byte(k)
		}
		s.space()
		s.i++ // :
		s.space()
		start := s.i
		s.value()
		switch {
		case bytes.Equal(key, modelKey):
			if found {
				return nil, errors.New(`the body has the key "model" twice`)
			}
			found = true
			name, err := modelValue(s.b[start:s.i])
			if err != nil {
				return nil, err
			}
			names = append(names, name)
		case bytes.EqualFold(key, modelKey):
			return nil, fmt.Errorf(`the body has the key %s: keys are case-sensitive, write "model"`, strconv.Quote(string(key)))
		}
	}
}

// objectModels reads the members of an object whose "{" dec has just
// returned, appending its model to names.
func objectModels(dec *json.Decoder, names []string) ([]string, error) {
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		key, _ := tok.(string)
		switch {
		case key == "model":
			if found {
				return nil, errors.New(`the body has the key "model" twice`)
			}
			found = true
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, jsonError(err)
			}
			name, err := modelValue(raw)
			if err != nil {
				return nil, err
			}
			names = append(names, name)
		case strings.EqualFold(key, "model"):
			return nil, fmt.Errorf(`the body has the key %s: keys are case-sensitive, write "model"`, strconv.Quote(key))
		default:
			if err := dec.Decode(&skipValue{}); err != nil {
				return nil, jsonError(err)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, jsonError(err)
	}
	return names, nil
}

// modelValue reads the value of "model": a string or null (vLLM's
// default). strictjson refuses what encoding/json would silently repair,
// such as a lone UTF-16 surrogate, which Python keeps as is: the two
// would otherwise read two different names.
func modelValue(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		// A valid JSON string without escapes is its own text.
		return string(raw[1 : len(raw)-1]), nil
	}
	if !bytes.Contains(raw, []byte(`\u`)) {
		// No escapes that encoding/json could repair: the fast path.
		var name *string
		if err := json.Unmarshal(raw, &name); err != nil {
			return "", fmt.Errorf(`"model" must be a string, not %s`, jsonKind(raw))
		}
		if name == nil {
			return "", nil
		}
		return *name, nil
	}
	v, err := strictjson.Parse(raw)
	if err != nil {
		return "", fmt.Errorf(`the "model" value is not valid: %v`, err)
	}
	switch v.Kind {
	case strictjson.String:
		return v.Str, nil
	case strictjson.Null:
		return "", nil
	}
	return "", fmt.Errorf(`"model" must be a string, not %s`, v.Kind)
}

// jsonKind names the kind of a valid JSON value by its first byte.
func jsonKind(raw []byte) strictjson.Kind {
	switch raw[0] {
	case '{':
		return strictjson.Object
	case '[':
		return strictjson.Array
	case '"':
		return strictjson.String
	case 't', 'f':
		return strictjson.Bool
	case 'n':
		return strictjson.Null
	}
	return strictjson.Number
}

// skipValue consumes one JSON value; the decoder validates it, nothing is
// kept.
type skipValue struct{}

func (skipValue) UnmarshalJSON([]byte) error { return nil }

// elementModels reads the model of one element of a top-level list.
type elementModels struct{ names []string }

func (e *elementModels) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return err
	}
	names, err := objectModels(dec, nil)
	e.names = names
	return err
}

func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("the body is not valid JSON at byte %d: %v", se.Offset, se)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the body is not valid JSON: it ends too early")
	}
	return fmt.Errorf("the body is not valid JSON: %v", err)
}

// multipartType refuses a multipart Content-Type that Starlette (with
// python-multipart's parse_options_header) reads differently from
// mime.ParseMediaType: a backslash in a quoted value (Go drops it before
// some characters, Python only before \ and "), which moves the
// boundary; an extended (RFC 2231) parameter, which Go decodes and
// python-multipart ignores; a charset other than UTF-8, with which
// Starlette decodes every field name and value.
func multipartType(contentType string, params map[string]string) error {
	if strings.ContainsAny(contentType, `\*`) {
		return fmt.Errorf("the multipart Content-Type %s has an escaped or extended parameter", strconv.Quote(contentType))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return fmt.Errorf("the multipart Content-Type has the charset %s: only UTF-8 forms are read", strconv.Quote(cs))
	}
	return nil
}

var (
	crlf      = []byte("\r\n")
	headerEnd = []byte("\r\n\r\n")
)

// multipartFraming refuses a multipart body that Go's reader and
// python-multipart (vLLM's, through Starlette) could split into different
// parts, so that a part only vLLM sees could name the model. Go's reader
// is the lenient one: it skips a preamble, takes "--B" followed by
// spaces or tabs for a delimiter, ends a header line at a bare LF, and
// ends a part at a "--B" right after its headers; python-multipart reads
// each of those as part data or header text (or skips a leading CR or LF
// up to the next "-"). The one framing both read alike is required: the
// body starts with "--B" CRLF, each part's header lines end with CRLF,
// no part's data starts with "--B", and every CRLF "--B" in the body is
// a delimiter, followed by CRLF or "--".
func multipartFraming(boundary string, body []byte) error {
	dash := []byte("--" + boundary)
	delim := []byte("\r\n--" + boundary)
	if !bytes.HasPrefix(body, dash) || !bytes.HasPrefix(body[len(dash):], crlf) {
		return errors.New("the multipart body does not start with its boundary line")
	}
	i := len(dash) + len(crlf)
	for {
		end := bytes.Index(body[i:], headerEnd)
		if end <= 0 {
			return errors.New("a multipart part has no headers, or they do not end")
		}
		if err := crlfLines(body[i : i+end]); err != nil {
			return err
		}
		data := i + end + len(headerEnd)
		if bytes.HasPrefix(body[data:], dash) {
			return errors.New("a multipart part's data starts with the boundary")
		}
		n := bytes.Index(body[data:], delim)
		if n < 0 {
			return errors.New("a multipart part does not end with a boundary")
		}
		i = data + n + len(delim)
		switch {
		case bytes.HasPrefix(body[i:], []byte("--")):
			return nil
		case !bytes.HasPrefix(body[i:], crlf):
			return errors.New("a multipart boundary is followed by something other than CRLF or --")
		}
		i += len(crlf)
	}
}

// crlfLines refuses a CR or LF in part headers that is not part of a
// CRLF line end.
func crlfLines(h []byte) error {
	for j, c := range h {
		if (c == '\n' && (j == 0 || h[j-1] != '\r')) || (c == '\r' && (j+1 == len(h) || h[j+1] != '\n')) {
			return errors.New("a multipart part's headers have a line that does not end with CRLF")
		}
	}
	return nil
}

// multipartModels reads the "model" field of a multipart/form-data body.
// Parts are taken raw (no quoted-printable decoding), and a body or part
// another parser might read differently is refused: framing other than
// multipartFraming's, extended (RFC 2231) parameters, more than one
// Content-Disposition, a model part with a file name or a transfer
// encoding.
func multipartModels(boundary string, body []byte) ([]string, error) {
	if boundary == "" {
		return nil, errors.New("the multipart Content-Type has no boundary")
	}
	if err := multipartFraming(boundary, body); err != nil {
		return nil, err
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var names []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the multipart body cannot be parsed: %v", err)
		}
		cds := p.Header.Values("Content-Disposition")
		if len(cds) != 1 {
			return nil, fmt.Errorf("a multipart part has %d Content-Disposition headers, want 1", len(cds))
		}
		if strings.Contains(cds[0], "*") {
			return nil, fmt.Errorf("a multipart part's Content-Disposition %s has extended parameters", strconv.Quote(cds[0]))
		}
		_, prm, err := mime.ParseMediaType(cds[0])
		if err != nil {
			return nil, fmt.Errorf("a multipart part's Content-Disposition %s cannot be parsed: %v", strconv.Quote(cds[0]), err)
		}
		name := prm["name"]
		if name != "model" {
			if strings.EqualFold(name, "model") {
				return nil, fmt.Errorf(`the form has the field %s: names are case-sensitive, write "model"`, strconv.Quote(name))
			}
			continue
		}
		if _, ok := prm["filename"]; ok {
			return nil, errors.New(`the form's "model" field is a file`)
		}
		if p.Header.Get("Content-Transfer-Encoding") != "" {
			return nil, errors.New(`the form's "model" field has a Content-Transfer-Encoding`)
		}
		data, err := io.ReadAll(io.LimitReader(p, maxModelName+1))
		if err != nil {
			return nil, fmt.Errorf("the multipart body cannot be parsed: %v", err)
		}
		if len(data) > maxModelName {
			return nil, fmt.Errorf(`the form's "model" field is longer than %d bytes`, maxModelName)
		}
		if !utf8.Valid(data) {
			return nil, errors.New(`the form's "model" field is not valid UTF-8`)
		}
		names = append(names, string(data))
	}
	if len(names) > 1 {
		return nil, fmt.Errorf(`the form has the field "model" %d times`, len(names))
	}
	return names, nil
}

// formModels reads the "model" field of a URL-encoded form. A raw byte
// beyond ASCII is refused: Starlette decodes the body as Latin-1 before
// it percent-decodes it (as UTF-8), so raw "é" would be "Ã©" to vLLM.
// Clients percent-encode such bytes.
func formModels(body []byte) ([]string, error) {
	if !ascii(body) {
		return nil, errors.New("the form body has a byte beyond ASCII that is not percent-encoded")
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("the form body cannot be parsed: %v", err)
	}
	for k := range vals {
		if k != "model" && strings.EqualFold(k, "model") {
			return nil, fmt.Errorf(`the form has the field %s: names are case-sensitive, write "model"`, strconv.Quote(k))
		}
	}
	vs := vals["model"]
	if len(vs) > 1 {
		return nil, fmt.Errorf(`the form has the field "model" %d times`, len(vs))
	}
	for _, v := range vs {
		if !utf8.ValidString(v) {
			return nil, errors.New(`the form's "model" field is not valid UTF-8`)
		}
	}
	return vs, nil
}
