package hfcache

import "strings"

// fetchCommand is the huggingface_hub CLI command that downloads the whole
// revision rev of id into root: `hf download ID --revision REV`, with
// --cache-dir unless root is the default one. (`hf` replaced
// `huggingface-cli` in huggingface_hub 0.34; the old name takes the same
// arguments.) Arguments are quoted for a POSIX shell.
func fetchCommand(id, rev string, root Root) string {
	args := []string{"hf", "download", id, "--revision", rev}
	if !root.isDefault() {
		args = append(args, "--cache-dir", root.Dir)
	}
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote returns s unchanged when a POSIX shell would read it as one
// literal word, else single-quoted.
func shellQuote(s string) string {
	plain := func(r rune) bool {
		return r < 0x80 && (isWordByte(byte(r)) || strings.ContainsRune("-./=:@%+,", r))
	}
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !plain(r) }) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
