package gate

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/modelgate/modelgate/policy"
)

// decide decides the artifact at path under the policy ap. Concurrent
// decisions of one canonical path under one policy share a single call
// of Decide (the first caller's; the others wait for its result), and at
// most MaxVerifications calls run at once.
//
// The shared call runs under the gate's context, bounded by
// DecideTimeout, not under the request that started it: a client that
// gives up must not fail the verification other clients wait for. Each
// caller stops waiting when its own ctx ends, with a denial.
func (g *Gate) decide(ctx context.Context, ap *activePolicy, kind policy.Kind, path string) policy.Decision {
	return g.shared(ctx, ap, kind, path, "path\x00"+flightKey(path), func(ctx context.Context) policy.Decision {
		return ap.decider.Decide(ctx, kind, path)
	})
}

// decideHub decides the artifact named by Hugging Face id in the gate's
// hub cache, at revision main (vLLM loads adapters named by id at their
// default branch), sharing verifications as decide does.
func (g *Gate) decideHub(ctx context.Context, ap *activePolicy, kind policy.Kind, id string) policy.Decision {
	root := g.cfg.HubCache
	return g.shared(ctx, ap, kind, id, "hub\x00"+root.Dir+"\x00"+id, func(ctx context.Context) policy.Decision {
		return ap.decider.DecideHub(ctx, kind, root, id, "")
	})
}

// shared runs one decision (run) of subject for every concurrent caller
// with the same key under the same policy; see decide.
func (g *Gate) shared(ctx context.Context, ap *activePolicy, kind policy.Kind, subject, key string, run func(context.Context) policy.Decision) policy.Decision {
	key = strconv.FormatUint(ap.gen, 10) + "\x00" + string(kind) + "\x00" + key
	ch := g.flight.DoChan(key, func() (any, error) {
		return g.runDecide(kind, subject, run), nil
	})
	if g.testHookWaitDecision != nil {
		g.testHookWaitDecision()
	}
	var d policy.Decision
	select {
	case r := <-ch:
		d = r.Val.(policy.Decision)
	case <-ctx.Done():
		d = denial(kind, subject, policy.CodeError, fmt.Sprintf("the request ended while %s was being verified", strconv.Quote(subject)))
	}
	g.metrics.decisions.WithLabelValues(string(kind), string(d.Outcome)).Inc()
	return d
}

// flightKey is the canonical form of path when it exists (so two
// spellings of one adapter share a verification), else path itself.
func flightKey(path string) string {
	if filepath.IsAbs(path) {
		if c, err := filepath.EvalSymlinks(path); err == nil {
			return c
		}
	}
	return path
}

// runDecide is one decision (run) of path on the bounded pool.
func (g *Gate) runDecide(kind policy.Kind, path string, run func(context.Context) policy.Decision) (d policy.Decision) {
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.DecideTimeout)
	defer cancel()
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return denial(kind, path, policy.CodeError, "the gate is stopping or verification slots stayed busy for too long")
	}
	defer func() { <-g.sem }()
	g.metrics.verifying.Inc()
	defer g.metrics.verifying.Dec()
	defer func() {
		// policy.Decide does not panic, but an injected Decider might:
		// deny rather than crash every request in flight.
		if r := recover(); r != nil {
			d = denial(kind, path, policy.CodeError, fmt.Sprintf("internal error while deciding: %v", r))
		}
	}()
	start := time.Now()
	d = run(ctx)
	g.metrics.verifySeconds.WithLabelValues(string(kind)).Observe(time.Since(start).Seconds())
	g.metrics.bytesHashed.Add(float64(d.Bytes))
	return d
}

// denial is a decision the gate makes itself, without the policy: the
// request could not be tied to a path the policy can judge.
func denial(kind policy.Kind, path string, code policy.Code, reason string) policy.Decision {
	return policy.Decision{Kind: kind, Path: path, Outcome: policy.Denied, Code: code, Reason: reason}
}

// decideAdapter decides the adapter a load request names by lora_path
// (or SageMaker's src), resolving it first as vLLM will.
func (g *Gate) decideAdapter(ctx context.Context, ap *activePolicy, given string) policy.Decision {
	if !ap.decider.Governs(policy.LoRA) {
		// No "loras" section: nothing to resolve, the policy lets
		// every adapter load (and says so in its decision).
		return g.decide(ctx, ap, policy.LoRA, given)
	}
	res := g.cfg.resolveLoRAPath(given)
	switch {
	case res.refused != nil:
		d := denial(policy.LoRA, given, res.code, res.refused.Error())
		g.metrics.decisions.WithLabelValues(string(policy.LoRA), string(d.Outcome)).Inc()
		return d
	case res.hubID != "":
		return g.decideHub(ctx, ap, policy.LoRA, res.hubID)
	}
	return g.decide(ctx, ap, policy.LoRA, res.path)
}
