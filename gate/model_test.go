package gate

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/modelgate/modelgate/internal/allocs"
)

// TestUnknownModelNames: without a resolver directory, a request naming
// a model vLLM does not serve gets vLLM's own 404 and never reaches it.
func TestUnknownModelNames(t *testing.T) {
	h := newHarness(t)
	for _, route := range []string{"/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/pooling", "/score", "/rerank",
		"/v2/rerank", "/tokenize", "/detokenize", "/v1/responses", "/v1/messages", "/invocations", "/some/future/route"} {
		r := h.postJSON(route, `{"model":"evil","prompt":"x"}`)
		if r.status != http.StatusNotFound {
			t.Errorf("%s: %d %s", route, r.status, r.body)
			continue
		}
		e := r.vllmErr(t)
		if e.Message != "The model `evil` does not exist." || e.Type != "NotFoundError" || e.Code != 404 || e.Param == nil || *e.Param != "model" {
			t.Errorf("%s: error %+v", route, e)
		}
	}
	for _, body := range []string{`{"model":"base","prompt":"x"}`, `{"prompt":"x"}`, `{"model":null}`, `{"model":""}`, ``} {
		if r := h.postJSON("/v1/completions", body); r.status != http.StatusOK {
			t.Errorf("%q: %d %s", body, r.status, r.body)
		}
	}
	// Bodies naming no model are vLLM's to judge.
	for _, body := range []string{`[]`, `"x"`, `42`} {
		before := len(h.fake.received("/v1/completions"))
		h.postJSON("/v1/completions", body)
		if got := h.fake.received("/v1/completions"); len(got) != before+1 || string(got[before].body) != body {
			t.Errorf("%q was not forwarded as is", body)
		}
	}
	for _, r := range h.fake.requests() {
		if strings.Contains(string(r.body), "evil") {
			t.Errorf("the upstream saw %s %s", r.uri, r.body)
		}
	}
}

// TestModelBodyStrict: anything that could make the gate and vLLM read
// different model names is refused.
func TestModelBodyStrict(t *testing.T) {
	h := newHarness(t)
	for _, body := range []string{
		`{"model":"base","model":"evil"}`,
		`{"model":"base","mod\u0065l":"evil"}`,
		`{"model":"base","Model":"evil"}`,
		`{"MODEL":"evil"}`,
		`{"model":1}`,
		`{"model":["evil"]}`,
		`{"model":"ev\ud800il"}`,
		`{"model":"base"} {"model":"evil"}`,
		`{"model":"base",}`,
		`{"model":"base","temperature":NaN}`,
		"\ufeff{\"model\":\"base\"}",
		"{\"model\":\"base\",\"x\":\"\xff\"}",
	} {
		r := h.postJSON("/v1/completions", body)
		if r.status != http.StatusBadRequest {
			t.Errorf("%q: %d %s", body, r.status, r.body)
		}
	}
	if n := len(h.fake.requests()); n != 0 {
		t.Errorf("the upstream saw %d requests", n)
	}
	// A list of requests: each model counts.
	if r := h.postJSON("/v1/completions", `[{"model":"base"},{"model":"evil"}]`); r.status != http.StatusNotFound {
		t.Errorf("list: %d %s", r.status, r.body)
	}
	// Nested "model" keys belong to the request's content, not to vLLM.
	if r := h.postJSON("/v1/chat/completions", `{"model":"base","response_format":{"model":"evil"},"tools":[{"model":"x"}]}`); r.status != http.StatusOK {
		t.Errorf("nested model keys: %d %s", r.status, r.body)
	}
}

// TestModelBodyTooLarge: bodies read for their model are bounded.
func TestModelBodyTooLarge(t *testing.T) {
	h := newHarness(t, func(_ *harness, c *Config) { c.MaxBodyBytes = 1 << 10 })
	r := h.postJSON("/v1/completions", `{"model":"base","prompt":"`+strings.Repeat("x", 2<<10)+`"}`)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Chunked (no Content-Length): the bound holds while reading.
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/completions", struct{ *strings.Reader }{strings.NewReader(`{"model":"base","prompt":"` + strings.Repeat("x", 2<<10) + `"}`)})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked: %d", resp.StatusCode)
	}
	if n := len(h.fake.requests()); n != 0 {
		t.Errorf("the upstream saw %d requests", n)
	}
}

// TestModelBodyAnnouncedLength: the memory a body takes follows the
// bytes that arrive, not the Content-Length the client announces: a
// header that announces the largest body allowed and sends none must not
// cost the gate that much memory per connection.
func TestModelBodyAnnouncedLength(t *testing.T) {
	allocs.SkipUnderRace(t)
	h := newHarness(t)
	var ref *refusal
	n := allocs.Bytes(func() {
		// As net/http's server reads it: the bytes that came, then
		// the connection ends short of the length.
		body := io.MultiReader(strings.NewReader(`{"model":"base"}`), iotest.ErrReader(io.ErrUnexpectedEOF))
		r := httptest.NewRequest(http.MethodPost, "/v1/completions", body)
		r.ContentLength = DefaultMaxBodyBytes
		_, ref = h.gate.readBody(httptest.NewRecorder(), r, DefaultMaxBodyBytes)
	})
	if ref == nil || ref.status != http.StatusBadRequest {
		t.Errorf("a body short of its Content-Length: %+v", ref)
	}
	if n > 2<<20 {
		t.Errorf("reading a 16-byte body announced as %d bytes allocated %d bytes", DefaultMaxBodyBytes, n)
	}
}

// TestModelBodyCutShort: a body that ends before its Content-Length (the
// client went away) is refused, never forwarded as if it were whole; one
// that ends exactly there is read whole.
func TestModelBodyCutShort(t *testing.T) {
	h := newHarness(t)
	send := func(declared int, body string) reply {
		t.Helper()
		conn, err := net.DialTimeout("tcp", h.srv.Listener.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "POST /v1/completions HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", declared, body)
		if declared > len(body) {
			conn.(*net.TCPConn).CloseWrite() // the client is done, short of what it announced
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return reply{status: resp.StatusCode, body: string(b)}
	}
	body := `{"model":"base","prompt":"x"}`
	if r := send(len(body)+10, body); r.status != http.StatusBadRequest || !strings.Contains(r.body, "cannot read the request body") {
		t.Errorf("cut short: %d %s", r.status, r.body)
	}
	if n := len(h.fake.received("/v1/completions")); n != 0 {
		t.Errorf("the upstream saw %d cut-short request(s)", n)
	}
	if r := send(len(body), body); r.status != http.StatusOK {
		t.Errorf("whole: %d %s", r.status, r.body)
	}
	if got := h.fake.received("/v1/completions"); len(got) != 1 || string(got[0].body) != body {
		t.Errorf("the upstream saw %+v", got)
	}
}

// TestLoRAResolver: with a resolver directory, an unknown name is decided
// as DIR/NAME; only a single clean folder name can be.
func TestLoRAResolver(t *testing.T) {
	h := newHarness(t, withResolver)
	r := h.postJSON("/v1/completions", `{"model":"allowed","prompt":"x"}`)
	if r.status != http.StatusOK {
		t.Fatalf("signed adapter in the resolver directory: %d %s", r.status, r.body)
	}
	if p, ok := h.fake.loaded("allowed"); !ok || p != h.fx.resolver+"/allowed" {
		t.Fatalf("the upstream did not resolve it: %q %v", p, ok)
	}
	calls := h.calls.Load()
	if r := h.postJSON("/v1/completions", `{"model":"allowed"}`); r.status != http.StatusOK {
		t.Fatalf("second request: %d", r.status)
	}
	if h.calls.Load() != calls {
		t.Errorf("a served adapter was decided again")
	}

	for _, tt := range []struct {
		model  string
		status int
		reason string
	}{
		{"unsigned", 403, "model.sig"},
		{"missing", 404, "The model `missing` does not exist."},
		{"../adapters/good", 403, "contains a /"},
		{"/abs", 403, "contains a /"},
		{h.fx.good, 403, "contains a /"},
		{"a/b", 403, "contains a /"},
		{"..", 403, "not a folder name"},
		{".", 403, "not a folder name"},
		{"x\u0001", 403, "control character"},
	} {
		r := h.postJSON("/v1/completions", `{"model":`+quoteJSON(tt.model)+`}`)
		if r.status != tt.status || !strings.Contains(r.vllmErr(t).Message, tt.reason) {
			t.Errorf("%q: %d %s", tt.model, r.status, r.body)
		}
		if p := r.vllmErr(t).Param; p == nil || *p != "model" {
			t.Errorf("%q: param %v", tt.model, p)
		}
	}
	if n := len(h.fake.received("/v1/completions")); n != 2 {
		t.Errorf("the upstream saw %d completions, want 2", n)
	}
}

// TestInvocationsAdapterHeader: SageMaker's adapter header names the
// model on /invocations.
func TestInvocationsAdapterHeader(t *testing.T) {
	h := newHarness(t)
	for _, tt := range []struct {
		name   string
		header []string
		body   string
		status int
	}{
		{"header names an unknown model", []string{AdapterHeader, "evil"}, `{"prompt":"x"}`, 404},
		{"header names the base model", []string{AdapterHeader, "base"}, `{"prompt":"x"}`, 200},
		{"header in lower case", []string{strings.ToLower(AdapterHeader), "evil"}, `{"prompt":"x"}`, 404},
		{"header without a body", []string{AdapterHeader, "evil"}, ``, 404},
		{"body names an unknown model beside a known header", []string{AdapterHeader, "base"}, `{"model":"evil"}`, 404},
		{"empty header, body names the model", []string{AdapterHeader, ""}, `{"model":"base"}`, 200},
		{"header twice", []string{AdapterHeader, "base", AdapterHeader, "evil"}, `{}`, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.postJSON("/invocations", tt.body, tt.header...)
			if r.status != tt.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	for _, r := range h.fake.requests() {
		if strings.Contains(r.header.Get(AdapterHeader), "evil") || strings.Contains(string(r.body), "evil") {
			t.Errorf("the upstream saw %v %s", r.header, r.body)
		}
	}
}

func multipartBody(t testing.TB, fields ...string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "model.wav")
	fw.Write([]byte("RIFF....WAVE name=\"model\""))
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	mw.Close()
	return mw.FormDataContentType(), b.String()
}

// TestFormModels: the speech-to-text routes take multipart forms whose
// "model" field names the model.
func TestFormModels(t *testing.T) {
	h := newHarness(t)
	ct, body := multipartBody(t, "model", "base", "language", "en")
	if r := h.do(http.MethodPost, "/v1/audio/transcriptions", ct, body); r.status != http.StatusOK {
		t.Errorf("known model: %d %s", r.status, r.body)
	}
	if got := h.fake.received("/v1/audio/transcriptions"); len(got) != 1 || string(got[0].body) != body {
		t.Errorf("the upstream did not get the original multipart body")
	}
	ct, body = multipartBody(t, "model", "evil")
	if r := h.do(http.MethodPost, "/v1/audio/translations", ct, body); r.status != http.StatusNotFound {
		t.Errorf("unknown model: %d %s", r.status, r.body)
	}
	for name, fields := range map[string][]string{
		"model twice":  {"model", "base", "model", "evil"},
		"Model":        {"Model", "evil"},
		"model and MO": {"model", "base", "MODEL", "evil"},
	} {
		ct, body := multipartBody(t, fields...)
		if r := h.do(http.MethodPost, "/v1/audio/transcriptions", ct, body); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	for name, tt := range map[string]struct{ ct, body string }{
		"extended parameter": {"multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name*=UTF-8''model\r\n\r\nevil\r\n--B--\r\n"},
		"model as a file":    {"multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"model\"; filename=\"m\"\r\n\r\nevil\r\n--B--\r\n"},
		"transfer encoding":  {"multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"model\"\r\nContent-Transfer-Encoding: base64\r\n\r\nZXZpbA==\r\n--B--\r\n"},
		"no boundary":        {"multipart/form-data", "--B\r\n\r\n--B--\r\n"},
		"truncated":          {"multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nbase"},
		"form twice":         {"application/x-www-form-urlencoded", "model=base&model=evil"},
		"form semicolon":     {"application/x-www-form-urlencoded", "model=base;model=evil"},
		"form JSON body":     {"application/x-www-form-urlencoded", `{"model":"evil"}`},
		"bad content type":   {"multipart/form-data; boundary", "x"},
	} {
		r := h.do(http.MethodPost, "/v1/audio/transcriptions", tt.ct, tt.body)
		if r.status != http.StatusBadRequest && r.status != http.StatusNotFound {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if r := h.do(http.MethodPost, "/v1/audio/transcriptions", "application/x-www-form-urlencoded", "model=evil"); r.status != http.StatusNotFound {
		t.Errorf("URL-encoded form: %d %s", r.status, r.body)
	}
	for _, r := range h.fake.requests() {
		if strings.Contains(string(r.body), "evil") || strings.Contains(string(r.body), "ZXZpbA") {
			t.Errorf("the upstream saw %s", r.body)
		}
	}
}

// TestUnloadForgetsNames: once vLLM confirms an unload, the name is no
// longer served and requests naming it get the 404 again.
func TestUnloadForgetsNames(t *testing.T) {
	h := newHarness(t)
	if r := h.postJSON("/v1/load_lora_adapter", loadBody("a", h.fx.good)); r.status != http.StatusOK {
		t.Fatal(r.body)
	}
	if r := h.postJSON("/v1/completions", `{"model":"a"}`); r.status != http.StatusOK {
		t.Fatalf("loaded adapter: %d", r.status)
	}
	r := h.postJSON("/v1/unload_lora_adapter", `{"lora_name":"a"}`)
	if r.status != http.StatusOK || r.body != "Success: LoRA adapter 'a' removed successfully." {
		t.Fatalf("unload: %d %q", r.status, r.body)
	}
	if r := h.postJSON("/v1/completions", `{"model":"a"}`); r.status != http.StatusNotFound {
		t.Errorf("after unload: %d %s", r.status, r.body)
	}
	// An unload vLLM refuses changes nothing.
	if r := h.postJSON("/v1/unload_lora_adapter", `{"lora_name":"a"}`); r.status != http.StatusNotFound {
		t.Errorf("second unload: %d %s", r.status, r.body)
	}
	for _, body := range []string{`{"lora_name":"a","lora_name":"b"}`, `{"Lora_Name":"a"}`, `{"lora_name":"a","x":1}`, `{}`} {
		if r := h.postJSON("/v1/unload_lora_adapter", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d", body, r.status)
		}
	}
}

// TestPassThrough: everything else reaches vLLM untouched, except for
// hop-by-hop headers.
func TestPassThrough(t *testing.T) {
	h := newHarness(t)
	r := h.do(http.MethodGet, "/metrics?x=%41", "", "", "Connection", "X-Hop", "X-Hop", "1", "X-Keep", "2")
	if r.status != http.StatusOK || r.body != "vllm:num_requests_running 0\n" {
		t.Fatalf("%d %q", r.status, r.body)
	}
	got := h.fake.received("/metrics")
	if len(got) != 1 {
		t.Fatalf("got %d", len(got))
	}
	if got[0].uri != "/metrics?x=%41" || got[0].header.Get("X-Hop") != "" || got[0].header.Get("X-Keep") != "2" {
		t.Errorf("forwarded as %q with headers %v", got[0].uri, got[0].header)
	}
	if r := h.do(http.MethodGet, "/health", "", ""); r.status != http.StatusOK {
		t.Errorf("/health: %d", r.status)
	}
	if r := h.do(http.MethodGet, "/nothing/here", "", ""); r.status != http.StatusNotFound || r.body != `{"detail":"Not Found"}` {
		t.Errorf("unknown route: %d %s", r.status, r.body)
	}
}

// TestFormModelsParserAgreement: a form body is accepted only when Go's
// readers and vLLM's (Starlette on python-multipart) cannot find
// different model fields in it. Each case is a body that Go reads without
// a model vLLM would load through its resolver (no model, the served
// "base", or the default), while Starlette reads "evil" or a name of the
// attacker's making: the gate must refuse it.
func TestFormModelsParserAgreement(t *testing.T) {
	for name, tt := range map[string]struct{ ct, body string }{
		// python-multipart takes "--B" for a delimiter only when CRLF or
		// "--" follows; Go also takes spaces and tabs (transport padding).
		"padding after a boundary": {"multipart/form-data; boundary=B",
			"--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nbase\r\n--B \r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--B--\r\n"},
		// python-multipart ends a header line at CRLF only; Go also at LF.
		"bare LF in part headers": {"multipart/form-data; boundary=B",
			"--B\r\nContent-Disposition: form-data; x=1\nY: z; name=\"model\"\r\n\r\nevil\r\n--B--\r\n"},
		// python-multipart skips a leading CR or LF up to the next "-";
		// Go skips preamble lines and so never finds this part.
		"preamble": {"multipart/form-data; boundary=B",
			"\rjunk--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nevil\r\n--B--\r\n"},
		// Go ends a part at "--B" right after its headers; for
		// python-multipart that is the part's data.
		"boundary right after the headers": {"multipart/form-data; boundary=B",
			"--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nevil\r\n--B--\r\n"},
		// Starlette decodes field names and values with the charset.
		"charset": {"multipart/form-data; boundary=B; charset=utf-16-le",
			"--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nbase\r\n--B--\r\n"},
		// Go reads the boundary "B:", python-multipart "B\:".
		"escaped boundary": {`multipart/form-data; boundary="B\:"`,
			"--B\\:\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nevil\r\n--B\\:--\r\n--B:--\r\n"},
		"extended boundary": {"multipart/form-data; boundary*=UTF-8''B",
			"--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--B--\r\n"},
		// Starlette reads a URL-encoded body as Latin-1 before
		// percent-decoding it: raw "é" is "Ã©" to vLLM.
		"raw non-ASCII in a URL-encoded form": {"application/x-www-form-urlencoded", "model=\xc3\xa9"},
	} {
		if names, err := findModels(tt.ct, []byte(tt.body)); err == nil {
			t.Errorf("%s: accepted, models %q", name, names)
		}
	}
	// What clients send still reads.
	ct, body := multipartBody(t, "model", "base", "language", "en")
	for _, ct := range []string{ct, ct + "; charset=utf-8", ct + "; charset=UTF8"} {
		if names, err := findModels(ct, []byte(body)); err != nil || len(names) != 1 || names[0] != "base" {
			t.Errorf("%s: %q, %v", ct, names, err)
		}
	}
	if names, err := findModels("application/x-www-form-urlencoded", []byte("model=%C3%A9&x=1")); err != nil || len(names) != 1 || names[0] != "é" {
		t.Errorf("percent-encoded form: %q, %v", names, err)
	}
}

// TestInvocationsAdapterHeaderASCII: vLLM (Starlette) decodes header
// values as Latin-1, Go keeps their bytes: the adapter header's raw "é"
// names "é" to the gate, a served adapter, but "Ã©" to vLLM, which would
// ask its LoRA resolver for that folder. Such a header is refused.
func TestInvocationsAdapterHeaderASCII(t *testing.T) {
	h := newHarness(t, withResolver)
	if r := h.postJSON("/v1/load_lora_adapter", `{"lora_name":"é","lora_path":`+quoteJSON(h.fx.good)+`}`); r.status != http.StatusOK {
		t.Fatalf("load: %d %s", r.status, r.body)
	}
	r := h.postJSON("/invocations", `{"prompt":"x"}`, AdapterHeader, "\xc3\xa9")
	if r.status != http.StatusBadRequest || !strings.Contains(r.vllmErr(t).Message, "ASCII") {
		t.Errorf("non-ASCII adapter header: %d %s", r.status, r.body)
	}
	if n := len(h.fake.received("/invocations")); n != 0 {
		t.Errorf("the upstream saw %d invocations, want 0", n)
	}
}
