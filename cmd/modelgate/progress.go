package main

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/policy"
)

// Hashing a 100 GB model takes minutes. On a terminal, modelgate shows
// how far it has got on stderr: one bar per model being hashed, with
// bytes done of total, percentage, throughput, file count and ETA, drawn
// by mpb (github.com/vbauerster/mpb) and erased before the result line
// or the next log record prints. Only an operator at a terminal reading
// text logs sees it (see app.setupLogging): with --log-format json, with
// --quiet, or when stderr is a file, a pipe or journald, nothing of it is
// written.
//
// Hashing must not slow down for it. manifest calls Hashed for every
// 256 KiB chunk from several goroutines; Hashed is one atomic add. A
// poller copies the count to the bar every progressEvery and asks mpb for
// a frame; nothing locks per chunk, and a model hashed in less than one
// period never shows a bar at all.

// progressEvery is the time between two frames of the display.
const progressEvery = 150 * time.Millisecond

// maxLabelWidth bounds the label (the model's path) so that the numbers
// keep their room on an 80-column terminal; a longer path keeps its end,
// the part that names the model. (mpb gives the bar itself what the label
// and the numbers leave, and shortens the text only when nothing is left.)
const maxLabelWidth = 26

// progressConfig is how the display renders; tests change it.
type progressConfig struct {
	every time.Duration // between frames
	// drawLast draws the bar's last frame (then erases it) even when the
	// work ended before the first period: tests use it to see a frame
	// that does not depend on how fast the machine hashes.
	drawLast bool
}

// progressDisplay shows hashing progress on a terminal. At most one bar
// is on screen at a time: the work of one command, or of one policy
// decision. A nil *progressDisplay (progress off) does nothing.
//
// It is also the writer of the text log handler: while a bar is on
// screen, a log record goes through mpb, which prints it above the bar;
// otherwise straight to the terminal. Either way no record is torn by a
// frame, and a record written while the bar is up is on screen before the
// bar is erased.
type progressDisplay struct {
	out io.Writer // the terminal (the raw stderr)
	cfg progressConfig

	// mu is held while a bar starts or ends and while a log record is
	// written through the display, so that a record never goes to mpb
	// after the bar's last frame (it would be lost) nor to the terminal
	// while a frame is drawn.
	mu  sync.Mutex
	bar *hashBar // the current bar; nil when none
}

func newProgressDisplay(out io.Writer, cfg progressConfig) *progressDisplay {
	return &progressDisplay{out: out, cfg: cfg}
}

// start begins a bar for the work named by label (a verb or kind, and the
// path as the user gave it) and returns the sink to hand to manifest; the
// bar appears once manifest has planned the work (see hashBar.Planned).
// Whatever bar was current is ended first. On a nil display it returns
// nil, so that no sink is installed at all.
func (d *progressDisplay) start(what, path string) manifest.Progress {
	if d == nil {
		return nil
	}
	d.end()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bar = &hashBar{d: d, label: progressLabel(what, path)}
	return d.bar
}

// policyHook is the policy.Options.Progress of a display: a bar per
// decision that hashes, labelled with the artifact's kind and path. nil on
// a nil display, so that the policy asks for nothing.
func (d *progressDisplay) policyHook() func(policy.Kind, string) manifest.Progress {
	if d == nil {
		return nil
	}
	return func(kind policy.Kind, path string) manifest.Progress { return d.start(string(kind), path) }
}

// end finishes the current bar, if any: its last frame shows the bytes
// hashed and is then erased, leaving the cursor where the bar began. It
// returns once the terminal holds everything written, so that a result
// line printed next lands below the log records of the work. Safe to call
// any number of times, and from the signal watcher.
func (d *progressDisplay) end() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.bar
	d.bar = nil
	if b != nil {
		b.finish()
	}
}

// Write writes one log record (slog's text handler writes each record in
// one call) above the current bar, or to the terminal when there is none.
func (d *progressDisplay) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if b := d.bar; b != nil && b.p != nil {
		if n, err := b.p.Write(p); err == nil {
			b.wrote = true
			return n, nil
		}
		// mpb has shut down (it cannot, while the bar is current, but
		// a record is never dropped): write it directly.
	}
	return d.out.Write(p)
}

// progressLabel is what a bar says it is hashing: "verify", "sign",
// "digest", or a policy artifact's kind, then the path quoted and made
// one line as every name from outside, cut at the front to fit.
func progressLabel(what, path string) string {
	q := oneLine(strconv.Quote(path))
	if w := maxLabelWidth - runewidth.StringWidth(what) - 1; runewidth.StringWidth(q) > w {
		q = runewidth.TruncatePrefix(q, w, "…")
	}
	return what + " " + q
}

// hashBar is one piece of work's bar and its manifest.Progress sink.
type hashBar struct {
	d      *progressDisplay
	label  string
	hashed atomic.Int64 // bytes hashed so far; the only thing Hashed touches
	cached atomic.Int64 // bytes whose digests came from the hash cache (Cached)

	// Set by Planned, under d.mu; p is nil until then, and for work with
	// nothing to hash.
	p       *mpb.Progress
	bar     *mpb.Bar
	refresh chan any      // frame requests to mpb (manual refresh)
	stop    chan struct{} // closed by finish: the poller returns
	polled  chan struct{} // closed when the poller has returned
	drawn   atomic.Bool   // a frame was requested (or drawLast): something may be on screen
	wrote   bool          // a log record went through mpb (under d.mu)
}

// Planned shows the bar, sized to the work manifest has walked, and
// starts the poller that updates it.
func (b *hashBar) Planned(files int, bytes int64) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar != b || b.p != nil || bytes <= 0 {
		return // ended already, planned twice, or nothing to show
	}
	b.refresh, b.stop, b.polled = make(chan any), make(chan struct{}), make(chan struct{})
	// The display is on only for a terminal (app.setupLogging decided);
	// ForceTTY makes mpb draw on it even when it is not an *os.File,
	// as in tests. Frames come from the poller alone (manual refresh).
	b.p = mpb.New(mpb.WithOutput(d.out), mpb.ForceTTY(), mpb.WithManualRefresh(b.refresh))
	// A bar of total 0 never completes by itself: it ends when finish
	// says so, after the records written meanwhile are out.
	b.bar = b.p.AddBar(0,
		mpb.PrependDecorators(decor.Name(b.label)),
		mpb.AppendDecorators(decor.Any(progressFacts(time.Now(), plural(files, "file"), &b.cached))),
	)
	b.bar.SetTotal(bytes, false)
	b.drawn.Store(d.cfg.drawLast)
	go b.poll(d.cfg.every)
}

// Hashed counts bytes hashed. It is called for every chunk from every
// hashing goroutine: one atomic add, nothing else.
func (b *hashBar) Hashed(n int64) { b.hashed.Add(n) }

// Cached counts bytes whose digests the hash cache had
// (manifest.CacheProgress): they count as done, but not towards the
// throughput and ETA, which only bytes read tell anything about.
func (b *hashBar) Cached(n int64) { b.cached.Add(n) }

// done is what the bar shows as done: bytes hashed or taken from the cache.
func (b *hashBar) done() int64 { return b.hashed.Load() + b.cached.Load() }

// poll updates the bar and asks for a frame every period until stop.
func (b *hashBar) poll(every time.Duration) {
	defer close(b.polled)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			b.bar.SetCurrent(b.done())
			b.drawn.Store(true)
			select {
			case b.refresh <- now:
			case <-b.stop:
				return
			}
		}
	}
}

// finish stops the poller and ends the bar, under d.mu. If nothing was
// ever drawn and no record went through mpb (work shorter than a
// period), mpb is shut down without writing a byte. Otherwise the bar is
// aborted with removal: mpb draws its last frame, with the records
// written meanwhile above it, and then erases it.
func (b *hashBar) finish() {
	if b.p == nil {
		return
	}
	close(b.stop)
	<-b.polled
	if !b.drawn.Load() && !b.wrote {
		b.p.Shutdown()
		return
	}
	b.bar.SetCurrent(b.done())
	b.bar.Abort(true)
	b.p.Wait()
}

// progressFacts renders the numbers after the bar: bytes done of total,
// the part of them the hash cache answered for (when any), the throughput
// of reading since start, the file count and the time left at that
// throughput, e.g. "1.2 GiB / 3.4 GiB  310.5 MiB/s  12 files  ETA 7s" or
// "3.0 GiB / 3.4 GiB (2.9 GiB cached)  …". Cached bytes are not read, so
// they are left out of the rate: a warm run would otherwise promise an
// ETA its uncached rest cannot keep. It runs on mpb's render goroutine
// and reads only the bar's statistics and cached.
func progressFacts(start time.Time, files string, cached *atomic.Int64) decor.DecorFunc {
	return func(s decor.Statistics) string {
		c := min(cached.Load(), s.Current)
		read := s.Current - c
		elapsed := time.Since(start).Seconds()
		eta := "…" // nothing read yet: no rate to go by
		var rate float64
		switch {
		case s.Current >= s.Total:
			eta = "0s"
		case read > 0 && elapsed > 0:
			rate = float64(read) / elapsed
			eta = time.Duration(float64(s.Total-s.Current) / rate * float64(time.Second)).Round(time.Second).String()
		}
		done := byteSize(float64(s.Current)) + " / " + byteSize(float64(s.Total))
		if c > 0 {
			done += " (" + byteSize(float64(c)) + " cached)"
		}
		return fmt.Sprintf(" %s  %s/s  %s  ETA %s", done, byteSize(rate), files, eta)
	}
}

// byteSize formats n bytes for a person: "487 B", "1.2 GiB".
func byteSize(n float64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", int64(n))
	}
	i := -1
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", n, units[i])
}
