package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/termsafe"
	"github.com/modelgate/modelgate/policy"
)

// Text output carries paths, names and reasons that came from outside: a
// file name in a model, a model path, a JSON value. Each is quoted (%q)
// where it is printed, and every text line goes through oneLine (or
// terminalSafe for multi-line reports) on its way out, so that whatever a
// lower layer forgot to quote still cannot drive the terminal: no escape
// sequence, no carriage return, no bidi override, no invalid UTF-8 byte
// reaches it. JSON output needs no such care: encoding/json escapes
// control characters, and a JSON reader decodes the same string.

// oneLine returns s as a single line with every character that could act
// on a terminal written as a Go escape (\n, \x1b, \u202e, \x9b for an
// invalid byte); see package termsafe. Printable text, including
// %q-quoted strings, is unchanged.
func oneLine(s string) string { return termsafe.Line(s) }

// terminalSafe is oneLine for text that is meant to be several lines: it
// keeps '\n' and escapes everything else oneLine does.
func terminalSafe(s string) string { return termsafe.Lines(s) }

// dangerous reports whether r can change what a terminal shows beyond
// printing a glyph, or look like something else (a space that is not
// one): whatever oneLine escapes.
func dangerous(r rune) bool { return !termsafe.Printable(r) }

// decisionLine is the text form of a policy decision: outcome first, then
// the artifact, then what matters for that outcome, kept short so that it
// reads on a terminal. The full reason is in --output json and the log
// record: an allowed artifact's line leaves out which rule matched and
// why, and a denial's reason shows digests shortened (sha256:9a129038…3b2c).
func decisionLine(d policy.Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %q", d.Outcome, d.Kind, d.Path)
	if d.HubCommit != "" && d.Allowed() {
		// What was allowed is a commit in a cache; a denial's reason
		// says where it looked.
		fmt.Fprintf(&b, " at commit %s in %q", d.HubCommit, d.HubCache)
	}
	switch d.Outcome {
	case policy.Verified, policy.Skipped:
		fmt.Fprintf(&b, ": signer %q (%s), rule %q", d.Signer, d.Method, d.Rule)
		if d.Outcome == policy.Verified {
			fmt.Fprintf(&b, ", %s, %s", plural(d.Files, "file"), bytesPhrase(d.Bytes, d.CachedBytes))
		}
		if d.PinnedPath != "" {
			fmt.Fprintf(&b, "; loads from the verified copy %q", d.PinnedPath)
		}
	default:
		if d.Code != "" {
			fmt.Fprintf(&b, " (%s)", d.Code)
		}
		b.WriteString(": " + shortDigests(d.Reason))
	}
	return oneLine(b.String())
}

// longDigest is an algorithm-prefixed hex digest, as in a mismatch
// ("expected sha256:<64 hex>, got …").
var longDigest = regexp.MustCompile(`\b((?:sha256|sha384|sha512|blake2b|blake3):[0-9a-f]{8})[0-9a-f]{20,}([0-9a-f]{4})\b`)

// shortDigests shortens every long digest in s to its first 8 and last 4
// hex digits, which tell digests apart at a glance.
func shortDigests(s string) string { return longDigest.ReplaceAllString(s, "$1…$2") }

// withoutDecisions is a log handler that drops policy decision records:
// package policy writes one per decision, recognisable by its "outcome"
// attribute (docs/cli.md, Logging). See app.setupLogging for when.
type withoutDecisions struct{ slog.Handler }

func (h withoutDecisions) Handle(ctx context.Context, r slog.Record) error {
	isDecision := false
	r.Attrs(func(a slog.Attr) bool {
		isDecision = a.Key == "outcome"
		return !isDecision
	})
	if isDecision {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h withoutDecisions) WithAttrs(attrs []slog.Attr) slog.Handler {
	return withoutDecisions{h.Handler.WithAttrs(attrs)}
}

func (h withoutDecisions) WithGroup(name string) slog.Handler {
	return withoutDecisions{h.Handler.WithGroup(name)}
}

// explanationText is the text form of an explanation, with every value
// made one line first: Explanation.String prints one "name: value" line
// per field, and a path holding a newline must not add a line of its
// own making. (terminalSafe then catches what a new field might add.)
func explanationText(e policy.Explanation) string {
	for _, s := range []*string{&e.Path, &e.CanonicalPath, &e.Action, &e.Why, &e.Rule, &e.Signer,
		&e.Method, &e.Identity, &e.Issuer, &e.TrustSource, &e.SignaturePath,
		&e.HubID, &e.HubRevision, &e.HubCommit, &e.HubRef, &e.HubCache, &e.HubCacheChosenBy} {
		*s = oneLine(*s)
	}
	e.Code = policy.Code(oneLine(string(e.Code)))
	e.IgnorePaths = oneLines(e.IgnorePaths)
	e.GitPaths = oneLines(e.GitPaths)
	return terminalSafe(e.String())
}

// lintText is the text form of a lint report, one line per problem
// whatever the policy's keys and values held (see explanationText).
func lintText(r *policy.LintReport) string {
	safe := *r
	safe.Errors, safe.Warnings = oneLineProblems(r.Errors), oneLineProblems(r.Warnings)
	return terminalSafe(safe.String())
}

func oneLineProblems(ps []policy.Problem) []policy.Problem {
	out := make([]policy.Problem, len(ps))
	for i, p := range ps {
		p.File, p.Path, p.Message = oneLine(p.File), oneLine(p.Path), oneLine(p.Message)
		out[i] = p
	}
	return out
}

func oneLines(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = oneLine(s)
	}
	return out
}

// jsonSafe returns the JSON text b with the characters that encoding/json
// (and log/slog) leave raw but a terminal acts on — DEL, C1 controls,
// bidi overrides and other format characters — written as \u escapes.
// It is the same JSON value: those characters can only occur inside
// strings, where the escape means the character. (C0 controls are
// escaped by the encoders already; raw ones in b are layout whitespace.)
func jsonSafe(b []byte) []byte {
	if !bytes.ContainsFunc(b, func(r rune) bool { return r >= 0x7f && dangerous(r) }) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r >= 0x7f && dangerous(r) {
			for _, u := range utf16.AppendRune(nil, r) {
				out = fmt.Appendf(out, `\u%04x`, u)
			}
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

// jsonSafeWriter applies jsonSafe to every write; the JSON log handler
// writes each record in one call.
type jsonSafeWriter struct{ w io.Writer }

func (j jsonSafeWriter) Write(p []byte) (int, error) {
	if _, err := j.w.Write(jsonSafe(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// printJSON writes v as one line of JSON to stdout.
func (a *app) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return failed(fmt.Errorf("encode output: %w", err))
	}
	return a.printResult("%s\n", jsonSafe(b))
}
