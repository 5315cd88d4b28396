package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/termsafe"
)

// A Problem is one error or lint warning in a policy file: where it is and
// what is wrong.
type Problem struct {
	File string `json:"file"`
	// Line and Col are 1-based (Col counts characters); 0 when the problem
	// has no position, e.g. the file could not be read.
	Line int `json:"line,omitempty"`
	Col  int `json:"col,omitempty"`
	// Path is the JSON path of the key or value concerned, such as
	// policy.signatures.models["/m/"].signer; "" for syntax errors.
	Path    string `json:"json_path,omitempty"`
	Message string `json:"message"`
}

// String formats p as FILE:LINE:COL: JSON.PATH: MESSAGE.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(displayName(p.File))
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Col)
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// LoadError is returned by Load and Parse when a policy is invalid. It
// holds every problem found, in file order; the policy is refused as a
// whole when there is any.
type LoadError struct {
	Problems []Problem
}

// Error lists every problem, one per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by position, keeping the order in which
// they were found for equal positions.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Col < ps[j].Col
	})
}

// jsonPath is a JSON path being built while walking the document, in the
// notation policy.signatures.models["/m/"].signer.
type jsonPath string

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// key returns the path of member k of the object at p.
func (p jsonPath) key(k string) jsonPath {
	if identRE.MatchString(k) {
		if p == "" {
			return jsonPath(k)
		}
		return p + "." + jsonPath(k)
	}
	return p + "[" + jsonPath(quote(k)) + "]"
}

// index returns the path of element i of the list at p.
func (p jsonPath) index(i int) jsonPath {
	return p + jsonPath(fmt.Sprintf("[%d]", i))
}

// quote quotes s for messages, in strconv.Quote style: every control
// character, every other non-printable rune (C1 controls, bidirectional
// overrides, line separators) and every invalid UTF-8 byte is escaped, so
// a path, key or value that came from outside can never reach a terminal
// or a log raw. Printable non-ASCII text stays readable.
func quote(s string) string { return strconv.Quote(s) }

// safeText escapes, without adding quotes, every character of s that is
// not printable (spaces are kept; see termsafe.Line). It is the last line
// of defence for text built from other packages' errors, which may name
// paths raw: reasons and problem messages always pass through it.
func safeText(s string) string { return termsafe.Line(s) }

// displayName is a file name as it starts a FILE:LINE:COL locator: as
// given when it is plain, so editors and terminals can jump to it, and
// quoted when it holds anything that is not (a space, a colon, a quote,
// a control character).
func displayName(s string) string {
	if s != "" && safeText(s) == s && !strings.ContainsAny(s, " \t\":") {
		return s
	}
	return quote(s)
}

// closest returns the candidate nearest to word by edit distance, or ""
// when none is close enough to be what was probably meant.
func closest(word string, candidates []string) string {
	best, bestD := "", -1
	limit := max(1, len(word)/3)
	for _, c := range candidates {
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if d <= limit && d < len([]rune(word)) && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent characters.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		if a == b {
			return 0
		}
		return max(len(ra), len(rb))
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
