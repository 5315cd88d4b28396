package gate

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// vLLM's error body: {"error": {"message", "type", "param", "code"}} with
// code the HTTP status (vllm/entrypoints/serve/engine/protocol.py,
// ErrorResponse and ErrorInfo). Every refusal of the gate uses it, so
// clients written for vLLM parse the gate's answers unchanged.
type errorBody struct {
	Error errorInfo `json:"error"`
}

type errorInfo struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    int     `json:"code"`
}

// The error types the gate answers with. PermissionDenied is spec §5's;
// the others are the names vLLM itself uses for those statuses.
const (
	typePermissionDenied   = "PermissionDenied"
	typeBadRequest         = "BadRequestError"
	typeNotFound           = "NotFoundError"
	typeMethodNotAllowed   = "MethodNotAllowedError"
	typeTooLarge           = "RequestEntityTooLargeError"
	typeUnsupportedMedia   = "UnsupportedMediaTypeError"
	typeBadGateway         = "BadGatewayError"
	typeServiceUnavailable = "ServiceUnavailableError"
	typeInternal           = "InternalServerError"
)

// refusal is an answer the gate gives instead of forwarding a request.
type refusal struct {
	status int
	typ    string
	param  string // "" means JSON null
	msg    string
	reason string // metric label: why the request was refused
}

func (r *refusal) Error() string { return r.msg }

func badRequest(reason, param, msg string) *refusal {
	return &refusal{status: http.StatusBadRequest, typ: typeBadRequest, param: param, msg: msg, reason: reason}
}

// writeError writes ref in vLLM's error shape.
func writeError(w http.ResponseWriter, ref *refusal) {
	body := errorBody{Error: errorInfo{Message: ref.msg, Type: ref.typ, Code: ref.status}}
	if ref.param != "" {
		p := ref.param
		body.Error.Param = &p
	}
	data, err := json.Marshal(body)
	if err != nil { // cannot happen: strings and an int
		data = []byte(`{"error":{"message":"internal error","type":"InternalServerError","param":null,"code":500}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(ref.status)
	_, _ = w.Write(data)
}

// writeUnauthorized answers as vLLM's API-key middleware does
// (vllm/entrypoints/serve/middleware/authenticate.py).
func writeUnauthorized(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"error":"Unauthorized"}`))
}
