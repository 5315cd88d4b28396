package main

import (
	"github.com/spf13/cobra"
)

// Shell completion is cobra's: `modelgate completion bash|zsh|fish|powershell`
// prints the script, and the script asks the hidden `modelgate __complete`
// command for candidates. Subcommands and flag names complete by
// themselves; what is registered here are the values that are cheap to
// know: the fixed choices of a flag, a file or a folder.
//
// A flag without a registered function completes file names (cobra's
// default), which is right for every file flag (--public-key,
// --signature, --security-policy, --model, …).

// addCompletionCommand adds cobra's `completion` command (after every
// other command, since cobra generates it from the tree) and makes a
// missing or unknown shell a usage error, like any other missing
// subcommand, rather than a help text with exit 0.
func addCompletionCommand(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(_ *cobra.Command, args []string) error {
				if len(args) > 0 {
					return usageError("completion: unknown shell %q: want bash, zsh, fish or powershell", args[0])
				}
				return usageError("completion needs a shell: bash, zsh, fish or powershell")
			}
		}
	}
}

// completeValues makes the flag name of cmd (persistent or local)
// complete to exactly values, and never to file names.
func completeValues(cmd *cobra.Command, name string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// completeDir makes the flag name of cmd complete to folders only.
func completeDir(cmd *cobra.Command, name string) {
	_ = cmd.MarkFlagDirname(name)
}

// onePathArg completes the single positional argument of a command that
// takes one path (MODEL_PATH, which may be a folder or a file, or
// POLICY) to file and folder names, and nothing after it.
func onePathArg(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// outputFlag registers --output text|json on cmd.
func outputFlag(cmd *cobra.Command, p *string, usage string) {
	cmd.Flags().StringVar(p, "output", "text", usage)
	completeValues(cmd, "output", "text", "json")
}
