package main

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/pindir"
)

// pinFlags are --pin-dir and --pin-dir-max-size, which exec and proxy
// take: verified copies (docs/policy.md, "Known limit").
type pinFlags struct {
	dir     string
	maxSize string
}

func (f *pinFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "pin-dir", "", "copy every verified model and adapter, as it is verified, into DIR/<subject digest> and have vLLM load the copy; DIR must be yours and writable by no one else")
	fl.StringVar(&f.maxSize, "pin-dir-max-size", "", "bound on the bytes all copies in --pin-dir take, such as 500GB or 1TiB; copies no process uses are removed, least recently used first, to make room (default: the free space of its file system)")
	completeDir(cmd, "pin-dir")
}

// open opens the pin folder, or returns nil without --pin-dir. cache is
// the hash cache that re-checks of existing copies go through.
func (f *pinFlags) open(a *app, cache manifest.DigestCache) (*pindir.Dir, error) {
	if f.dir == "" {
		if f.maxSize != "" {
			return nil, usageError("--pin-dir-max-size needs --pin-dir")
		}
		return nil, nil
	}
	var max int64
	if f.maxSize != "" {
		n, err := humanize.ParseBytes(f.maxSize)
		if err != nil || n == 0 || n > math.MaxInt64 {
			return nil, usageError("--pin-dir-max-size %s: give a positive size such as 500GB or 1TiB", strconv.Quote(f.maxSize))
		}
		max = int64(n)
	}
	d, err := pindir.Open(f.dir, pindir.Options{MaxSize: max, Cache: cache, Logger: a.logger})
	if err != nil {
		return nil, usageError("--pin-dir: %v", err)
	}
	return d, nil
}

// holdCopies holds the verified copy of every decision that has one, for
// vLLM: exec passes the held locks on to vLLM (KeepOnExec), which then
// holds them until it exits, so that no other process evicts a copy it
// loads.
func holdCopies(d *pindir.Dir, pinned []string) ([]*pindir.Hold, error) {
	var holds []*pindir.Hold
	for _, p := range pinned {
		h, err := d.Hold(p)
		if err == nil {
			if err = h.KeepOnExec(); err != nil {
				h.Release()
			}
		}
		if err != nil {
			releaseAll(holds)
			return nil, fmt.Errorf("hold the verified copy %s: %w", strconv.Quote(p), err)
		}
		holds = append(holds, h)
	}
	return holds, nil
}

// releaseAll releases holds.
func releaseAll(holds []*pindir.Hold) {
	for _, h := range holds {
		h.Release()
	}
}
