package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/manifest"
)

// CodePartialSnapshot is the denial code for a Hugging Face snapshot that
// lacks files its signature lists (or the signature itself): vLLM
// downloads only what it needs, so cached snapshots are often partial.
// The reason names the missing files and the command that fetches the
// whole revision.
const CodePartialSnapshot Code = "partial-snapshot"

// parseHubKey reads an "hf:" key into r (spec/policy.md §7): a valid
// Hugging Face id, optionally followed by "@" and a full commit hash. It
// returns why the key is not one, or "".
//
// A branch or tag after "@" is refused rather than matched: a ref is a file
// in the cache that whoever can write the cache points anywhere, so a rule
// "@main" would be aimed by them. A rule names either every commit of an
// id or exactly one.
func parseHubKey(r *rule) string {
	id, commit, pinned := strings.Cut(strings.TrimPrefix(r.key, hubPrefix), "@")
	if err := hfcache.ValidateRepoID(id); err != nil {
		var ie *hfcache.InvalidIDError
		if errors.As(err, &ie) {
			return fmt.Sprintf("%s is not a Hugging Face id: %s", quote(id), ie.Reason)
		}
		return err.Error()
	}
	if pinned {
		if why := commitProblem(commit); why != "" {
			return why
		}
	}
	r.hubID, r.commit = id, commit
	return ""
}

// commitProblem says why s (written after "@" in a hub key) is not a full
// commit hash, or "".
func commitProblem(s string) string {
	const want = "write \"hf:ORG/NAME@\" and the 40 lowercase hex digits of a commit, or \"hf:ORG/NAME\" for every commit"
	hex := isHex(s)
	switch {
	case hfcache.IsCommit(s):
		return ""
	case s == "":
		return "nothing after \"@\"; " + want
	case hex && len(s) == 40:
		return "the commit has uppercase hex digits; write it in lowercase, as Hugging Face does"
	case hex && len(s) < 40:
		return fmt.Sprintf("%s is an abbreviated commit (%d hex digits); %s", quote(s), len(s), want)
	}
	return fmt.Sprintf("%s is a branch, tag or other revision name, not a commit: a ref in the cache points wherever whoever writes the cache wants, so a key names every commit or one commit; %s", quote(s), want)
}

// findHub returns the hub rule of sec for id at commit: "hf:ID@COMMIT"
// first, then "hf:ID" (spec/policy.md §7). Ids compare exactly.
func (sec *section) findHub(id, commit string) match {
	if r := sec.byHub[id+"@"+commit]; r != nil {
		return match{r, fmt.Sprintf("hub rule %s names this id at commit %s", quote(r.key), commit)}
	}
	if r := sec.byHub[id]; r != nil {
		return match{r, fmt.Sprintf("hub rule %s names this id (any commit)", quote(r.key))}
	}
	return match{}
}

// DecideHub decides the artifact of the given kind named by Hugging Face
// id at revision ("" means "main") in the hub cache root, the way vLLM
// will load it offline (spec/vllm.md §4, spec/policy.md §7). Nothing is
// downloaded and nothing is written.
//
// The id is resolved in root (an id or revision not in the cache denies
// not-found, naming the folder searched, what chose it and the command
// that fetches it); the snapshot's links must stay inside the repository's
// blobs/ (hfcache.CheckSnapshot); the rule is "hf:ID@COMMIT", else
// "hf:ID", else the path rules on the snapshot's canonical path. The
// snapshot is verified as if its links were regular files, with the
// signature model.sig in the snapshot unless the entry names another;
// files the signature lists that the snapshot lacks deny with code
// CodePartialSnapshot. The decision carries the resolution (HubCommit,
// HubRef, HubCache...) so that the caller can pin vLLM to HubCommit.
//
// Like Decide it never panics, never allows because something went wrong,
// and writes exactly one log record.
func (p *Policy) DecideHub(ctx context.Context, kind Kind, root hfcache.Root, id, revision string) Decision {
	return p.decideHubIn(ctx, kind, root, id, revision, nil)
}

// DecideHubSameCommit decides, in another cache root, the id of a hub
// decision already made: vLLM's --download-dir, where vLLM keeps the
// weights while it still reads config and tokenizer from the cache root.
// The id is resolved at first's asked revision and must be the commit
// first resolved to, or vLLM would read files of two commits (denied,
// naming both and how to fetch the right one). first need not be allowed:
// each root gets its own decision and record.
func (p *Policy) DecideHubSameCommit(ctx context.Context, kind Kind, root hfcache.Root, first Decision) Decision {
	rev := first.HubRevision
	if first.hub != nil {
		rev = first.hub.Revision
	}
	return p.decideHubIn(ctx, kind, root, first.HubID, rev, first.hub)
}

func (p *Policy) decideHubIn(ctx context.Context, kind Kind, root hfcache.Root, id, revision string, same *hfcache.Resolution) (d Decision) {
	d = Decision{Kind: kind, Path: id}
	d.setHubAsked(root, id, revision)
	p.record(ctx, &d, func() {
		res, t, m, ok := p.resolveHub(&d, root, id, revision, same)
		if !ok {
			p.noteUnresolvedKeys(&d)
			return
		}
		linkRoot := res.BlobsDir
		if _, err := os.Lstat(linkRoot); err != nil {
			// No blobs/: the snapshot holds only regular files (checked
			// above), and no link may lead anywhere but into it.
			linkRoot = res.SnapshotDir
		}
		err := p.apply(ctx, &d, t, m, linkRoot)
		if err != nil {
			p.explainPartial(&d, res, err)
		}
	})
	return d
}

// setHubAsked fills in what was asked: the id, the revision and the
// cache root searched.
func (d *Decision) setHubAsked(root hfcache.Root, id, revision string) {
	if revision == "" {
		revision = hfcache.DefaultRevision
	}
	d.HubID, d.HubRevision, d.HubCache = id, revision, root.Dir
	if root.Dir != "" {
		d.HubCacheChosenBy = root.Source()
	}
}

// setHub records a resolution.
func (d *Decision) setHub(res *hfcache.Resolution) {
	d.hub = res
	d.HubCommit, d.HubRef, d.HubCache = res.Commit, res.Ref, res.CacheRoot.Dir
	d.CanonicalPath = res.SnapshotDir
}

// resolveHub is resolve for an artifact named by hub id: the steps that
// hash nothing. It fills d and returns ok only when a rule applies (d is
// then still undecided). With same set, the id must resolve to same's
// commit.
func (p *Policy) resolveHub(d *Decision, root hfcache.Root, id, revision string, same *hfcache.Resolution) (*hfcache.Resolution, target, match, bool) {
	name := d.Kind.section()
	if name == "" {
		d.deny(CodeError, "unknown artifact kind %s (want %q or %q)", quote(string(d.Kind)), Model, LoRA)
		return nil, target{}, match{}, false
	}
	res, err := hfcache.Resolve(root, id, revision)
	sec := p.sections[d.Kind]
	if sec == nil {
		// Not governed: allowed whatever the cache holds. A resolution
		// that succeeds is still recorded, so vLLM can be pinned to it.
		if err == nil {
			d.setHub(res)
		}
		d.Outcome = NotRequired
		d.Reason = fmt.Sprintf("the policy has no %q section, so %ss load without verification", name, d.Kind)
		return nil, target{}, match{}, false
	}
	if err != nil {
		d.denyHubError(err)
		return nil, target{}, match{}, false
	}
	d.setHub(res)
	if same != nil {
		if err := hfcache.SameCommit(same, res); err != nil {
			d.deny(CodeVerificationFailed, "%v", err)
			return nil, target{}, match{}, false
		}
	}
	if err := hfcache.CheckSnapshot(res); err != nil {
		d.denyHubError(err)
		return nil, target{}, match{}, false
	}
	m := sec.findHub(id, res.Commit)
	if m.rule == nil {
		m = sec.find(res.SnapshotDir, true)
		if m.rule != nil {
			m.why += fmt.Sprintf(" (the snapshot of %s at commit %s; no hub rule names the id)", quote(id), res.Commit)
		}
	}
	if m.rule == nil {
		d.deny(CodeNoRule, "no rule in %s matches Hugging Face id %s at commit %s (no key %s or %s) nor its snapshot %s",
			sec.path, quote(id), res.Commit, quote(hubPrefix+id+"@"+res.Commit), quote(hubPrefix+id), quote(res.SnapshotDir))
		return nil, target{}, match{}, false
	}
	return res, target{path: res.SnapshotDir, isDir: true}, m, true
}

// denyHubError denies for an error of package hfcache, with the code that
// fits it.
func (d *Decision) denyHubError(err error) {
	var (
		nf *hfcache.NotFoundError
		le *hfcache.LinkError
	)
	switch {
	case errors.As(err, &nf):
		d.deny(CodeNotFound, "%v", err)
	case errors.As(err, &le):
		// Not a shape huggingface_hub writes: someone made the link.
		d.deny(CodeVerificationFailed, "%v; a snapshot is verified only as the links huggingface_hub writes, into its repository's blobs folder", err)
	default:
		d.deny(CodeError, "%v", err)
	}
}

// explainPartial turns a failed verification of a snapshot into a
// partial-snapshot denial when what failed is that files are absent from
// the snapshot: the signature itself, or files it lists. The reason then
// names them and the command that fetches the whole revision; any other
// failure keeps its reason.
func (p *Policy) explainPartial(d *Decision, res *hfcache.Resolution, err error) {
	if errors.Is(err, fs.ErrNotExist) && d.Signature != "" && inside(res.SnapshotDir, d.Signature) {
		if _, lerr := os.Lstat(d.Signature); errors.Is(lerr, fs.ErrNotExist) {
			d.deny(CodePartialSnapshot, "snapshot %s of Hugging Face id %s (commit %s) has no signature file %s (vLLM downloads only the files it loads, so a snapshot it fetched lacks model.sig); fetch the whole revision with `%s`",
				quote(res.SnapshotDir), quote(res.RepoID), res.Commit, quote(d.Signature), res.FetchCommand())
		}
		return
	}
	var mm *manifest.MismatchError
	if !errors.As(err, &mm) || len(mm.Missing) == 0 {
		return
	}
	names := make([]string, 0, len(mm.Missing))
	for _, n := range mm.Missing {
		names = append(names, resourcePath(n, mm.Shards))
	}
	var perr *hfcache.PartialSnapshotError
	if errors.As(hfcache.CheckComplete(res, names), &perr) {
		d.deny(CodePartialSnapshot, "%v", perr)
	}
}

// resourcePath is the file path of a resource name from a
// manifest.MismatchError: the name itself, or for a shard
// ("PATH:START:END") the part before the last two colons.
func resourcePath(name string, shards bool) string {
	if !shards {
		return name
	}
	for range 2 {
		if i := strings.LastIndexByte(name, ':'); i >= 0 {
			name = name[:i]
		}
	}
	return name
}

// inside reports whether the clean absolute path p lies below dir.
func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && filepath.IsLocal(rel)
}

// ExplainHub is Explain for an artifact named by Hugging Face id at
// revision in the cache root: it resolves the id (reading folder entries,
// refs and snapshot links, never file contents) and finds the rule, and
// reports the resolution: the cache folder and what chose it, the ref
// read and the commit.
func (p *Policy) ExplainHub(kind Kind, root hfcache.Root, id, revision string) Explanation {
	d := Decision{Kind: kind, Path: id}
	d.setHubAsked(root, id, revision)
	_, t, m, ok := p.resolveHub(&d, root, id, revision, nil)
	e := p.explain(d, t, m, ok)
	e.HubResolution = d.HubResolution
	return e
}
