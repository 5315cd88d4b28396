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
	if contentType != "" {
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
		names, err = multipartModels(params["boundary"], body)
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

// jsonModels reads the model names of a JSON body. It walks the top level
// with encoding/json's tokenizer and skips every other value without
// building it, so a 32 MiB chat request costs one validating pass.
func jsonModels(body []byte) ([]string, error) {
	if blank(body) {
		return nil, nil
	}
	if !utf8.Valid(body) {
		return nil, errors.New("the body is not valid UTF-8")
	}
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

// multipartModels reads the "model" field of a multipart/form-data body.
// Parts are taken raw (no quoted-printable decoding), and a part whose
// headers another parser might read differently is refused: extended
// (RFC 2231) parameters, more than one Content-Disposition, a model part
// with a file name or a transfer encoding.
func multipartModels(boundary string, body []byte) ([]string, error) {
	if boundary == "" {
		return nil, errors.New("the multipart Content-Type has no boundary")
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

// formModels reads the "model" field of a URL-encoded form.
func formModels(body []byte) ([]string, error) {
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
