package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLogOneRecordPerDecision: with --log-format json, stderr holds one
// JSON record per decision with the fields of policy.md §5, at INFO for
// allowed, WARN for skipped and ERROR for denied, and nothing else that a
// log pipeline could not parse (the final error is a record too).
func TestLogOneRecordPerDecision(t *testing.T) {
	ref := refPath(t)
	dir := t.TempDir()
	m := func(name string) string { return filepath.Join(ref, name) }
	tampered := copyRef(t, "v1.1.0-elliptic-key")
	flipByte(t, filepath.Join(tampered, "signme-2"), 0)
	policyPath := writePolicy(t, dir, refSigners(t, dir),
		map[string]any{
			m("v1.1.0-elliptic-key"):        map[string]any{"signer": "ibm-key"},
			m("v1.1.0-certificate"):         map[string]any{"signer": "ibm-ca", "log_fingerprints": true},
			m("v1.1.0-sigstore"):            map[string]any{"signer": "ibm-sigstore"},
			`regex:.*/v0\.2\.0-certificate`: map[string]any{"signer": "no-signer"},
			tampered:                        map[string]any{"signer": "ibm-key"},
		}, nil)
	args := []string{"--log-format", "json", "verify", "--security-policy", policyPath,
		"--model", m("v1.1.0-elliptic-key"), "--model", m("v1.1.0-certificate"), "--model", m("v1.1.0-sigstore"),
		"--model", m("v0.2.0-certificate"), "--model", tampered, "--lora", m("v1.1.0-elliptic-key")}
	r := runCLI(t, args...).want(t, exitDenied)

	var decisions []map[string]any
	var final map[string]any
	for _, rec := range jsonLines(t, r.stderr) { // fails on any non-JSON line
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("log record lacks %q: %v", k, rec)
			}
		}
		switch {
		case rec["outcome"] != nil:
			decisions = append(decisions, rec)
		case rec["exit_code"] != nil:
			final = rec
		}
	}
	if len(decisions) != 6 {
		t.Fatalf("%d decision records, want 6:\n%s", len(decisions), r.stderr)
	}
	common := []string{"kind", "path", "canonical_path", "rule", "signer", "method", "outcome", "reason", "files", "bytes", "duration"}
	wants := []struct {
		level, msg, outcome string
		extra               map[string]any
	}{
		{"INFO", "model verified", "verified", map[string]any{"method": "key", "files": 2, "bytes": 17}},
		{"INFO", "model verified", "verified", map[string]any{"method": "certificate", "fingerprints": []string{fpIntCA, fpLeaf}}},
		{"INFO", "model verified", "verified", map[string]any{"method": "sigstore", "identity": refIdentity, "issuer": refIssuer}},
		{"WARN", "model skipped", "skipped", map[string]any{"method": "skip", "signer": "no-signer"}},
		{"ERROR", "model denied", "denied", map[string]any{"code": "verification-failed", "path": tampered}},
		{"INFO", "lora not-required", "not-required", map[string]any{"kind": "lora"}},
	}
	for i, w := range wants {
		rec := decisions[i]
		for _, k := range common {
			if _, ok := rec[k]; !ok {
				t.Errorf("decision record %d lacks %q: %v", i, k, rec)
			}
		}
		want := map[string]any{"level": w.level, "msg": w.msg, "outcome": w.outcome}
		for k, v := range w.extra {
			want[k] = v
		}
		checkFields(t, rec, want)
	}
	if _, ok := decisions[0]["fingerprints"]; ok {
		t.Errorf("fingerprints logged without log_fingerprints: %v", decisions[0])
	}
	if reason, _ := decisions[4]["reason"].(string); !strings.Contains(reason, `"signme-2"`) {
		t.Errorf("denial reason does not name the file: %q", reason)
	}
	checkFields(t, final, map[string]any{"level": "ERROR", "msg": "1 of 6 artifacts denied", "exit_code": exitDenied})

	// --log-level error keeps only the denial (and the final error).
	r = runCLI(t, append([]string{"--log-level", "error"}, args...)...).want(t, exitDenied)
	recs := jsonLines(t, r.stderr)
	if len(recs) != 2 || recs[0]["outcome"] != "denied" {
		t.Errorf("--log-level error: want the denial and the final error, got:\n%s", r.stderr)
	}

	// Text logs (the default) carry the same fields as key=value.
	r = runCLI(t, args[2:]...).want(t, exitDenied)
	for _, s := range []string{
		`level=INFO msg="model verified" kind=model path=` + m("v1.1.0-elliptic-key"),
		`level=WARN msg="model skipped" kind=model`,
		`level=ERROR msg="model denied" kind=model path=` + tampered,
		"outcome=denied code=verification-failed",
		"identity=" + refIdentity + " issuer=" + refIssuer,
		"modelgate: 1 of 6 artifacts denied\n",
	} {
		r.stderrHas(t, s)
	}
}

// TestLogFingerprints: verify certificate --log-fingerprints logs the
// trusted certificates when they are loaded ("init") and the bundle's
// certificates, intermediates first, when they verified ("verify").
func TestLogFingerprints(t *testing.T) {
	caCert := refPath(t, "keys/certificate/ca-cert.pem")
	intCA := refPath(t, "keys/certificate/int-ca-cert.pem")
	model := refPath(t, "v1.1.0-certificate")

	type fp struct{ stage, sha256 string }
	logged := func(t *testing.T, stderr string) []fp {
		var out []fp
		for _, rec := range jsonLines(t, stderr) {
			if rec["msg"] == "certificate fingerprint" {
				checkFields(t, rec, map[string]any{"level": "INFO"})
				out = append(out, fp{rec["stage"].(string), rec["sha256"].(string)})
			}
		}
		return out
	}
	cases := []struct {
		name  string
		chain []string
		want  []fp
	}{
		{"root", []string{caCert}, []fp{{"init", fpRootCA}, {"verify", fpIntCA}, {"verify", fpLeaf}}},
		{"root-and-intermediate", []string{caCert, intCA}, []fp{{"init", fpRootCA}, {"init", fpIntCA}, {"verify", fpIntCA}, {"verify", fpLeaf}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"--log-format", "json", "verify", "certificate", "--log-fingerprints"}
			for _, p := range c.chain {
				args = append(args, "--certificate-chain", p)
			}
			r := runCLI(t, append(args, model)...).want(t, exitOK)
			if got := logged(t, r.stderr); !slices.Equal(got, c.want) {
				t.Errorf("fingerprints logged %v, want %v", got, c.want)
			}
		})
	}

	// Text format, as an operator sees it.
	r := runCLI(t, "verify", "certificate", "--certificate-chain", caCert, "--log_fingerprints", model).want(t, exitOK)
	r.stderrHas(t,
		`level=INFO msg="certificate fingerprint" stage=init sha256=`+fpRootCA+` subject="CN=root-ca"`,
		`level=INFO msg="certificate fingerprint" stage=verify sha256=`+fpLeaf)

	// Without the flag, or below INFO, nothing is logged.
	for _, args := range [][]string{
		{"--log-format", "json", "verify", "certificate", "--certificate-chain", caCert, model},
		{"--log-format", "json", "--log-level", "warn", "verify", "certificate", "--certificate-chain", caCert, "--log-fingerprints", model},
	} {
		if got := logged(t, runCLI(t, args...).want(t, exitOK).stderr); len(got) != 0 {
			t.Errorf("%v: fingerprints logged: %v", args, got)
		}
	}
}
