package gate

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// routeKind is what the gate does with a request (spec/vllm.md §5).
type routeKind uint8

const (
	// routeOther is everything not listed below: forwarded untouched,
	// except that a body naming a model is checked first.
	routeOther routeKind = iota
	// routeInference is a known inference route: like routeOther, named
	// separately only for metrics.
	routeInference
	routeInvocations   // POST /invocations: also the SageMaker adapter header
	routeLoad          // POST /v1/load_lora_adapter
	routeAdapters      // POST /adapters (SageMaker load)
	routeUnload        // POST /v1/unload_lora_adapter
	routeAdapterDelete // DELETE /adapters/NAME (SageMaker unload)
	routeDev           // development routes: refused
)

func (k routeKind) String() string {
	switch k {
	case routeInference:
		return "inference"
	case routeInvocations:
		return "invocations"
	case routeLoad:
		return "load_lora_adapter"
	case routeAdapters:
		return "adapters"
	case routeUnload:
		return "unload_lora_adapter"
	case routeAdapterDelete:
		return "adapters_delete"
	case routeDev:
		return "dev"
	}
	return "other"
}

// route is a classified request path.
type route struct {
	kind routeKind
	path string // the route path vLLM matches: decoded, root path stripped, no trailing "/"
	name string // routeAdapterDelete: the adapter name from the path
}

// inferenceRoutes are vLLM's routes that take a model name in their body
// (2026 main: openai, anthropic, pooling, speech-to-text, render, tokens).
// The gate checks the model of every request with a body, listed or not;
// the list only labels metrics and documents what was looked at.
var inferenceRoutes = map[string]bool{
	"/v1/completions":             true,
	"/v1/chat/completions":        true,
	"/v1/responses":               true,
	"/v1/messages":                true,
	"/v1/messages/count_tokens":   true,
	"/v1/embeddings":              true,
	"/v1/audio/transcriptions":    true,
	"/v1/audio/translations":      true,
	"/v1/chat/completions/render": true,
	"/v1/completions/render":      true,
	"/v1/messages/render":         true,
	"/inference/v1/generate":      true,
	"/pooling":                    true,
	"/classify":                   true,
	"/v1/classify":                true,
	"/score":                      true,
	"/v1/score":                   true,
	"/rerank":                     true,
	"/v1/rerank":                  true,
	"/v2/rerank":                  true,
	"/tokenize":                   true,
	"/detokenize":                 true,
}

// devRoutes are the routes vLLM serves with VLLM_SERVER_DEV_MODE (and the
// RLHF weight-transfer routes): they swap weights, run RPCs in the workers
// or reconfigure the engine, all outside the policy. Refused.
var devRoutes = map[string]bool{
	"/collective_rpc":              true,
	"/update_weights":              true,
	"/init_weight_transfer_engine": true,
	"/start_weight_update":         true,
	"/finish_weight_update":        true,
	"/get_world_size":              true,
	"/sleep":                       true,
	"/wake_up":                     true,
	"/is_sleeping":                 true,
	"/pause":                       true,
	"/resume":                      true,
	"/is_paused":                   true,
	"/suspend":                     true,
	"/is_suspended":                true,
	"/reconfigure":                 true,
	"/server_info":                 true,
	"/reset_prefix_cache":          true,
	"/reset_mm_cache":              true,
	"/reset_encoder_cache":         true,
	"/v1/runtime_config":           true,
}

// devPrefixes are dev route families matched by prefix.
var devPrefixes = []string{"/trimtab/"}

// checkPath refuses request paths that different parsers could read
// differently. vLLM (uvicorn, then Starlette) percent-decodes the path
// once and matches routes on the result exactly; a path is accepted only
// when that single decoding leaves nothing to interpret: no encoded "/"
// or "\" (which would move segment boundaries), no "%" left over (double
// encoding), no empty, "." or ".." segments, no control characters and
// valid UTF-8. No route of vLLM needs any of these, so refusing them
// costs nothing and leaves one reading of every path that gets through.
//
// escaped is the path as sent (still percent-encoded), decoded its
// decoding.
func checkPath(escaped, decoded string) error {
	if !strings.HasPrefix(decoded, "/") {
		return fmt.Errorf("the path must start with /")
	}
	lower := strings.ToLower(escaped)
	for _, enc := range []string{"%2f", "%5c", "%00"} {
		if strings.Contains(lower, enc) {
			return fmt.Errorf("the path has an encoded %q, which vLLM would decode into a separator or control character", enc)
		}
	}
	if !utf8.ValidString(decoded) {
		return fmt.Errorf("the decoded path is not valid UTF-8")
	}
	for _, r := range decoded {
		switch {
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("the path has the control character %s", strconv.QuoteRune(r))
		case r == '%':
			return fmt.Errorf("the path is percent-encoded twice (a %% remains after decoding)")
		case r == '\\':
			return fmt.Errorf("the path has a backslash")
		}
	}
	if strings.Contains(decoded, "//") {
		return fmt.Errorf("the path has an empty segment (//)")
	}
	for _, seg := range strings.Split(decoded[1:], "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("the path has a %q segment", seg)
		}
	}
	return nil
}

// routePath strips the root path the way Starlette's get_route_path does:
// vLLM sets FastAPI's root_path, so a request routes the same with and
// without the prefix. The prefix is removed only when it ends at a "/"
// (or is the whole path).
func routePath(path, rootPath string) string {
	if rootPath == "" || !strings.HasPrefix(path, rootPath) {
		return path
	}
	if path == rootPath {
		return ""
	}
	if path[len(rootPath)] == '/' {
		return path[len(rootPath):]
	}
	return path
}

// classify maps a decoded, checked path to its route. A trailing "/" is
// ignored: Starlette redirects "/x/" to "/x" (307, body and method kept),
// so both spellings reach the same endpoint.
func classify(decoded, rootPath string) route {
	p := routePath(decoded, rootPath)
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	r := route{path: p}
	switch {
	case p == "/v1/load_lora_adapter":
		r.kind = routeLoad
	case p == "/v1/unload_lora_adapter":
		r.kind = routeUnload
	case p == "/adapters":
		r.kind = routeAdapters
	case strings.HasPrefix(p, "/adapters/") && !strings.Contains(p[len("/adapters/"):], "/"):
		r.kind = routeAdapterDelete
		r.name = p[len("/adapters/"):]
	case p == "/invocations":
		r.kind = routeInvocations
	case devRoutes[p] || hasAnyPrefix(p, devPrefixes):
		r.kind = routeDev
	case inferenceRoutes[p]:
		r.kind = routeInference
	}
	return r
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// guardedPrefixes are the route prefixes vLLM's --api-key protects.
var guardedPrefixes = []string{"/v1", "/v2", "/inference", "/cohere"}

// guarded reports whether vLLM would require the API key for route path p
// (a plain string prefix test, as vLLM's middleware does).
func guarded(p string) bool { return hasAnyPrefix(p, guardedPrefixes) }
