package main

import (
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// app holds what every command shares: where output goes and the logger
// built from the global flags.
type app struct {
	stdout, stderr io.Writer
	logLevel       string
	logFormat      string
	logger         *slog.Logger
}

func newApp(stdout, stderr io.Writer) *app {
	return &app{stdout: stdout, stderr: stderr}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "modelgate",
		Short: "Decide which models and LoRA adapters may load, and verify their model_signing signatures",
		Long: `modelgate enforces a security policy over AI models and LoRA adapters and verifies
the model.sig signatures written by the model_signing library (key, certificate and
Sigstore methods, formats v0.2 to v1.1).

Exit codes: 0 allowed/verified, 1 denied or verification failed, 2 the command could
not do its job (bad usage, unreadable or invalid policy, bad key file).`,
		Version:           version(),
		SilenceUsage:      true,
		SilenceErrors:     true,
		DisableAutoGenTag: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setupLogging()
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", "text", "log format on stderr: text or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError("%v", err)
	})

	root.AddCommand(a.verifyCommand(), a.signCommand(), a.digestCommand(), a.policyCommand())
	root.AddCommand(a.proxyCommand())
	// model_signing spells flags with underscores too (--public_key); accept
	// both everywhere, after every subcommand's flags are defined.
	root.SetGlobalNormalizationFunc(underscoreToHyphen)
	return root
}

func underscoreToHyphen(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	return pflag.NormalizedName(strings.ReplaceAll(name, "_", "-"))
}

// setupLogging builds the structured logger (stderr) from --log-level and
// --log-format.
func (a *app) setupLogging() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usageError("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch a.logFormat {
	case "text":
		a.logger = slog.New(slog.NewTextHandler(a.stderr, opts))
	case "json":
		a.logger = slog.New(slog.NewJSONHandler(a.stderr, opts))
	default:
		return usageError("--log-format %q: want text or json", a.logFormat)
	}
	return nil
}

// version reports the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// exactArgs is cobra.ExactArgs with a usage error that says what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("expected %s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}

// outputFormat validates --output.
func outputFormat(s string) error {
	if s != "text" && s != "json" {
		return usageError("--output %q: want text or json", s)
	}
	return nil
}

// plural formats a count with its noun.
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
