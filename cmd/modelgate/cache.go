package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/modelgate/modelgate/hashcache"
	"github.com/modelgate/modelgate/manifest"
)

// cacheFlags are --cache-dir and --no-cache, which every command that
// hashes takes (verify in every mode, sign, digest, proxy, exec).
type cacheFlags struct {
	dir string
	off bool
}

func (f *cacheFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "cache-dir", "", "hash cache folder, which must be yours and writable by no one else (default: $XDG_CACHE_HOME/modelgate, else ~/.cache/modelgate)")
	fl.BoolVar(&f.off, "no-cache", false, "hash every file, without reusing or storing digests of unchanged files")
	completeDir(cmd, "cache-dir")
}

// defaultCacheDir finds the default store folder. The tests replace it
// with one that gives every run a fresh folder, so that no test sees
// another's entries unless it names a --cache-dir.
var defaultCacheDir = hashcache.DefaultDir

// openStore opens the hash cache store named by --cache-dir or the
// default folder.
func (f *cacheFlags) openStore(a *app) (*hashcache.Store, error) {
	dir := f.dir
	if dir == "" {
		var err error
		if dir, err = defaultCacheDir(); err != nil {
			return nil, fmt.Errorf("no hash cache folder: %w (give --cache-dir)", err)
		}
	}
	return hashcache.Open(dir, hashcache.Options{Logger: a.logger})
}

// openCache returns the digest cache for one command run: the store on
// disk, or nil (no cache) with --no-cache or when the store cannot be
// used, which is a warning, never an error: hashing then reads every
// file, as with --no-cache. Commands that hash once and exit use it;
// `exec` too for its decisions before vLLM starts.
func (a *app) openCache(f *cacheFlags) manifest.DigestCache {
	return a.openStoreOrWarn(f, "hash cache not used: ")
}

// openServerCache returns the digest cache for a long-running gate: a
// bounded in-memory cache in front of the store (memory alone when the
// store cannot be used), kept for the gate's life, so that an adapter
// loaded again is not read again if unchanged. nil with --no-cache.
func (a *app) openServerCache(f *cacheFlags) manifest.DigestCache {
	return serverCache(f, a.openStoreOrWarn(f, serverStoreWarning))
}

// serverStoreWarning begins the warning of a gate whose store cannot be
// used.
const serverStoreWarning = "hash cache on disk not used (the gate keeps digests in memory only): "

// serverCache puts a gate's in-memory cache in front of store, the
// store openStoreOrWarn opened (nil when it could not): exec --listen
// decides with the store, then serves with this, opening the store once
// (and so warning once). nil with --no-cache.
func serverCache(f *cacheFlags, store manifest.DigestCache) manifest.DigestCache {
	if f.off {
		return nil
	}
	return hashcache.NewMemory(0, store)
}

// openStoreOrWarn opens the store, or returns nil: with --no-cache, or
// after logging warning and why the store cannot be used.
func (a *app) openStoreOrWarn(f *cacheFlags, warning string) manifest.DigestCache {
	if f.off {
		return nil
	}
	s, err := f.openStore(a)
	if err != nil {
		a.logger.Warn(warning + err.Error())
		return nil
	}
	return s
}

// bytesPhrase says how many bytes were verified, and how many of them
// were not read because the hash cache knew their digests.
func bytesPhrase(read, cached int64) string {
	switch {
	case cached == 0:
		return fmt.Sprintf("%d bytes", read)
	case read == 0:
		return fmt.Sprintf("%d bytes, all from the hash cache", cached)
	}
	return fmt.Sprintf("%d bytes, %d of them from the hash cache", read+cached, cached)
}

// cacheCommand is `modelgate cache`: look at and manage the hash cache.
func (a *app) cacheCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Show, prune or clear the hash cache (digests of unchanged model files)",
		Long: `The hash cache remembers the digest of each file modelgate hashed, bound to the
file's device, inode, size, modification time and change time, so that verifying an
unchanged model does not read it again. It lives in $XDG_CACHE_HOME/modelgate (else
~/.cache/modelgate) or --cache-dir, and is used only when that folder and its file are
owned by you and writable by no one else.`,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(*cobra.Command, []string) error {
			return usageError("cache needs a subcommand: stats, prune or clear")
		},
	}
	cmd.AddCommand(a.cacheStatsCommand(), a.cachePruneCommand(), a.cacheClearCommand())
	return cmd
}

// cacheAdmin builds a cache subcommand that works on the store.
func (a *app) cacheAdmin(use, short string, output bool, run func(cmd *cobra.Command, s *hashcache.Store, output string) error) *cobra.Command {
	var f cacheFlags
	var out string
	cmd := &cobra.Command{
		Use:               use,
		Short:             short,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output {
				if err := outputFormat(out); err != nil {
					return err
				}
			}
			s, err := f.openStore(a)
			if err != nil {
				return failed(err)
			}
			return run(cmd, s, out)
		},
	}
	cmd.Flags().StringVar(&f.dir, "cache-dir", "", "hash cache folder (default: $XDG_CACHE_HOME/modelgate, else ~/.cache/modelgate)")
	completeDir(cmd, "cache-dir")
	if output {
		outputFlag(cmd, &out, "output format: text or json")
	}
	return cmd
}

func (a *app) cacheStatsCommand() *cobra.Command {
	return a.cacheAdmin("stats [--cache-dir DIR]", "Show where the hash cache is, its entries and its size", true,
		func(_ *cobra.Command, s *hashcache.Store, output string) error {
			st, err := s.Stats()
			if err != nil {
				return failed(err)
			}
			if output == "json" {
				return a.printJSON(st)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "path: %s\nentries: %d (at most %d)\nbytes: %d\n", strconv.Quote(st.Path), st.Entries, st.MaxEntries, st.Bytes)
			if !st.Oldest.IsZero() {
				fmt.Fprintf(&b, "last used: %s (oldest entry) to %s (newest)\n", st.Oldest.UTC().Format("2006-01-02"), st.Newest.UTC().Format("2006-01-02"))
			}
			return a.printResult("%s", b.String())
		})
}

func (a *app) cachePruneCommand() *cobra.Command {
	return a.cacheAdmin("prune [--cache-dir DIR]", "Drop entries whose file is gone or changed, enforce the size bound, and compact", true,
		func(cmd *cobra.Command, s *hashcache.Store, output string) error {
			r, err := s.Prune(cmd.Context())
			if err != nil {
				return failed(err)
			}
			if output == "json" {
				return a.printJSON(r)
			}
			if a.quiet {
				return nil
			}
			return a.printResult("pruned %s: %d entries, %d stale and %d over the bound dropped, %d left; %d bytes, now %d\n",
				strconv.Quote(s.Path()), r.Before, r.Stale, r.Evicted, r.After, r.BytesBefore, r.BytesAfter)
		})
}

func (a *app) cacheClearCommand() *cobra.Command {
	return a.cacheAdmin("clear [--cache-dir DIR]", "Remove every entry of the hash cache", false,
		func(_ *cobra.Command, s *hashcache.Store, _ string) error {
			if err := s.Clear(); err != nil {
				return failed(err)
			}
			if a.quiet {
				return nil
			}
			return a.printResult("cleared %s\n", strconv.Quote(s.Path()))
		})
}
