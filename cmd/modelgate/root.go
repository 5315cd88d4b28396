package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// app holds what every command shares: where output goes and the logger
// built from the global flags.
type app struct {
	stdout, stderr io.Writer
	// isTerminal reports whether w is a terminal; tests replace it to
	// play an interactive run.
	isTerminal func(w io.Writer) bool

	// Global flags, as parsed.
	logLevel  string
	logFormat string
	quiet     bool

	logger *slog.Logger
	// stderrTTY is set by setupLogging when stderr is a terminal. It
	// decides whether decision records are logged and whether hashing
	// shows progress (see setupLogging).
	stderrTTY bool
	// progress draws hashing progress on stderr; nil (off) unless
	// setupLogging turned it on. progressCfg is how it renders.
	progress    *progressDisplay
	progressCfg progressConfig

	mu         sync.Mutex   // guards jsonLogger and progress against the signal watcher
	jsonLogger *slog.Logger // the logger, when --log-format json: errors are records too

	grace      atomic.Int64           // time.Duration a command has to stop after a signal
	forcedExit atomic.Pointer[func()] // run before exiting at once (setForcedExit)

	// execve replaces the process with another program (syscall.Exec);
	// in-process tests replace it to see what would run.
	execve func(path string, argv, env []string) error
}

func newApp(stdout, stderr io.Writer) *app {
	a := &app{stdout: stdout, stderr: stderr, isTerminal: fileIsTerminal, execve: sysExec, progressCfg: progressConfig{every: progressEvery}}
	a.setInterruptGrace(interruptGrace)
	return a
}

// fileIsTerminal reports whether w is an *os.File open on a terminal.
func fileIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "modelgate",
		Short: "Decide which models and LoRA adapters may load, and verify their model_signing signatures",
		Long: `modelgate enforces a security policy over AI models and LoRA adapters and verifies
the model.sig signatures written by the model_signing library (key, certificate and
Sigstore methods, formats v0.2 to v1.1).

Exit codes: 0 allowed/verified, 1 denied or verification failed, 2 the command could
not do its job (bad usage, unreadable or invalid policy, bad key file), 130/143
interrupted by SIGINT/SIGTERM.`,
		Version:           version(),
		SilenceUsage:      true,
		SilenceErrors:     true,
		DisableAutoGenTag: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setupLogging(cmd.Flags().Changed("log-level"))
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&a.logFormat, "log-format", "text", "log format on stderr: text or json")
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "print only what went wrong: no result line for what was allowed, verified or signed, and log level warn unless --log-level is given")
	completeValues(root, "log-level", "debug", "info", "warn", "error")
	completeValues(root, "log-format", "text", "json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError("%v", err)
	})

	root.AddCommand(a.verifyCommand(), a.signCommand(), a.digestCommand(), a.policyCommand())
	root.AddCommand(a.execCommand(), a.proxyCommand(), a.cacheCommand())
	// model_signing spells flags with underscores too (--public_key); accept
	// both everywhere, after every subcommand's flags are defined.
	root.SetGlobalNormalizationFunc(underscoreToHyphen)
	addCompletionCommand(root)
	return root
}

func underscoreToHyphen(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	return pflag.NormalizedName(strings.ReplaceAll(name, "_", "-"))
}

// setupLogging builds the structured logger (stderr) from --log-level,
// --log-format and --quiet (which means warn unless the level was given).
//
// On a terminal with text logs, a policy decision is not logged: the
// result line on stdout already says it, shorter, and a record with the
// same facts below it is noise. The record stays where something reads
// it: with --log-format json, when stderr is not a terminal (init
// containers, journald, CI logs) and at --log-level debug.
//
// The same operator, without --quiet, sees hashing progress (see
// progressDisplay); text records then go through the display, which keeps
// them from tearing a frame. Nothing else ever sees it: a JSON log, a
// file or a pipe gets no escape sequence and no frame.
func (a *app) setupLogging(levelGiven bool) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usageError("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	if a.quiet && !levelGiven {
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	a.stderrTTY = a.isTerminal(a.stderr)
	var h slog.Handler
	var progress *progressDisplay
	switch a.logFormat {
	case "text":
		var out io.Writer = a.stderr
		if a.stderrTTY && !a.quiet {
			progress = newProgressDisplay(a.stderr, a.progressCfg)
			out = progress
		}
		h = slog.NewTextHandler(out, opts)
		if a.stderrTTY && level > slog.LevelDebug {
			h = withoutDecisions{h}
		}
	case "json":
		h = slog.NewJSONHandler(jsonSafeWriter{a.stderr}, opts)
	default:
		return usageError("--log-format %q: want text or json", a.logFormat)
	}
	a.logger = slog.New(h)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.progress = progress
	if a.logFormat == "json" {
		a.jsonLogger = a.logger
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

// exactArgs is cobra.ExactArgs with a usage error that says what is
// missing. Every positional argument is a path, and an empty one is
// refused: filepath.Abs("") is the current directory, which nobody names
// by leaving a variable unset.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("expected %s, got %d argument(s)", what, len(args))
		}
		for i, a := range args {
			if a == "" {
				return usageError("argument %d is an empty path (write \".\" for the current directory)", i+1)
			}
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
