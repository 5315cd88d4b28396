package main

import (
	"slices"
	"strings"
	"testing"
)

// TestCompletionScripts: `modelgate completion SHELL` prints cobra's
// script for the shell, which calls back into `modelgate __complete`.
func TestCompletionScripts(t *testing.T) {
	cases := map[string][]string{
		"bash":       {"# bash completion V2 for modelgate", "__start_modelgate()", "complete -o default -F __start_modelgate modelgate", "__complete"},
		"zsh":        {"#compdef modelgate", "_modelgate()", "__complete"},
		"fish":       {"# fish completion for modelgate", "complete -c modelgate", "__complete"},
		"powershell": {"# powershell completion for modelgate", "Register-ArgumentCompleter", "__complete"},
	}
	for shell, want := range cases {
		t.Run(shell, func(t *testing.T) {
			r := runCLI(t, "completion", shell).want(t, exitOK).stdoutHas(t, want...)
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
		})
	}
	runCLI(t, "completion", "tcsh").want(t, exitError).stderrHas(t, `modelgate: completion: unknown shell "tcsh": want bash, zsh, fish or powershell`)
	runCLI(t, "completion").want(t, exitError).stderrHas(t, "modelgate: completion needs a shell")
	runCLI(t, "--help").want(t, exitOK).stdoutHas(t, "completion")
}

// complete asks modelgate for completions as the shell scripts do and
// returns the candidates (without descriptions) and the directive.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	r := runCLI(t, append([]string{"__complete"}, args...)...).want(t, exitOK)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	directive := lines[len(lines)-1]
	var values []string
	for _, l := range lines[:len(lines)-1] {
		values = append(values, strings.SplitN(l, "\t", 2)[0])
	}
	return values, directive
}

// Cobra's ShellCompDirective values, as printed after the candidates.
const (
	dirFiles   = ":0"  // default: complete file and folder names
	dirNoFiles = ":4"  // only the candidates given
	dirDirs    = ":16" // folder names only
)

// TestCompletionValues: subcommands, the fixed values of --hash,
// --output, --log-level and --log-format, folders for --tuf-cache-dir,
// and files for MODEL_PATH, POLICY and file flags.
func TestCompletionValues(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		values    []string // exactly these, in this order; nil: none
		directive string
	}{
		{"commands", []string{""}, []string{"cache", "completion", "digest", "exec", "help", "policy", "proxy", "sign", "verify"}, dirNoFiles},
		{"verify-methods", []string{"verify", ""}, []string{"certificate", "key", "sigstore"}, dirNoFiles},
		{"sign-methods", []string{"sign", ""}, []string{"certificate", "key"}, dirNoFiles},
		{"policy-commands", []string{"policy", ""}, []string{"explain", "lint"}, dirNoFiles},
		{"completion-shells", []string{"completion", ""}, []string{"bash", "fish", "powershell", "zsh"}, dirNoFiles},
		{"hash", []string{"sign", "key", "--hash", ""}, []string{"sha256", "blake2b", "blake3"}, dirNoFiles},
		{"hash-equals", []string{"digest", "--hash="}, []string{"sha256", "blake2b", "blake3"}, dirNoFiles},
		// The shell scripts keep the candidates that start with what was typed.
		{"hash-prefix", []string{"digest", "--hash", "bl"}, []string{"sha256", "blake2b", "blake3"}, dirNoFiles},
		{"output-verify-key", []string{"verify", "key", "--output", ""}, []string{"text", "json"}, dirNoFiles},
		{"output-policy-verify", []string{"verify", "--output", ""}, []string{"text", "json"}, dirNoFiles},
		{"output-lint", []string{"policy", "lint", "--output", ""}, []string{"text", "json"}, dirNoFiles},
		{"output-explain", []string{"policy", "explain", "--output", ""}, []string{"text", "json"}, dirNoFiles},
		{"log-level", []string{"--log-level", ""}, []string{"debug", "info", "warn", "error"}, dirNoFiles},
		{"log-level-after-command", []string{"digest", "--log-level", ""}, []string{"debug", "info", "warn", "error"}, dirNoFiles},
		{"log-format", []string{"verify", "--log-format", ""}, []string{"text", "json"}, dirNoFiles},
		{"underscore-spelling", []string{"sign", "key", "--log_format", ""}, []string{"text", "json"}, dirNoFiles},
		{"tuf-cache-dir", []string{"verify", "sigstore", "--tuf-cache-dir", ""}, nil, dirDirs},
		{"tuf-cache-dir-policy", []string{"verify", "--tuf-cache-dir", ""}, nil, dirDirs},
		{"public-key-file", []string{"verify", "key", "--public-key", ""}, nil, dirFiles},
		{"policy-file", []string{"verify", "--security-policy", ""}, nil, dirFiles},
		{"model-flag", []string{"verify", "--security-policy", "p.json", "--model", ""}, nil, dirFiles},
		{"digest-model", []string{"digest", ""}, nil, dirFiles},
		{"digest-second-arg", []string{"digest", "m", ""}, nil, dirNoFiles},
		{"lint-policy", []string{"policy", "lint", ""}, nil, dirFiles},
		{"password-env", []string{"sign", "key", "--password-env", ""}, nil, dirNoFiles},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			values, directive := complete(t, c.args...)
			if !slices.Equal(values, c.values) || directive != c.directive {
				t.Errorf("__complete %q = %q %s, want %q %s", c.args, values, directive, c.values, c.directive)
			}
		})
	}
	// A method's model argument completes files, after offering the
	// required flag.
	values, directive := complete(t, "verify", "key", "")
	if !slices.Contains(values, "--public-key") || directive != dirFiles {
		t.Errorf("verify key: %q %s, want --public-key and files", values, directive)
	}
}
