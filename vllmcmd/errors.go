package vllmcmd

import (
	"fmt"
	"regexp"
	"strconv"
)

// RefusedError is a command line or environment that modelgate will not
// start vLLM with: either vLLM would read it differently from a simple
// reading, or it makes vLLM load something modelgate cannot verify.
type RefusedError struct {
	// Flag is the flag, argument or environment variable concerned, as the
	// user wrote it: "--lora-mod", "MODEL", "VLLM_PLUGINS".
	Flag string
	// Reason says what is wrong. Values that came from the user are quoted.
	Reason string
	// Hint says what to write instead.
	Hint string
}

// Error formats the refusal as "FLAG: REASON; HINT".
func (e *RefusedError) Error() string {
	msg := showName(e.Flag) + ": " + e.Reason
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// plainName is a flag or variable name that can be printed as is; anything
// else the user wrote is quoted so that odd bytes cannot forge a message.
var plainName = regexp.MustCompile(`^-{0,2}[A-Za-z0-9][A-Za-z0-9_.+\[\]=-]{0,80}$`)

func showName(s string) string {
	if plainName.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

// plainPath is a file name that can be printed as is.
var plainPath = regexp.MustCompile(`^[A-Za-z0-9_./+@~-]{1,200}$`)

// showPath prints a file name from the command line, quoted unless plain.
func showPath(s string) string {
	if plainPath.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

func refuse(flag, hint, format string, args ...any) error {
	return &RefusedError{Flag: flag, Reason: fmt.Sprintf(format, args...), Hint: hint}
}
