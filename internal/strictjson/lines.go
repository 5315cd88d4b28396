package strictjson

import (
	"bytes"
	"sort"
	"unicode/utf8"
)

// Lines converts byte offsets in a document into line and column numbers.
type Lines struct {
	data   []byte
	starts []int // offset of the first byte of each line
}

// NewLines indexes the lines of data.
func NewLines(data []byte) *Lines {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return &Lines{data: data, starts: starts}
}

// Position converts a byte offset (clamped to the document) into a 1-based
// line and a 1-based column counted in characters, as editors show them.
func (x *Lines) Position(off int) (line, col int) {
	off = max(0, min(off, len(x.data)))
	i := sort.SearchInts(x.starts, off+1) - 1 // last line start <= off
	return i + 1, column(x.data, x.starts[i], off)
}

// Position is Lines.Position for a single offset, without an index: for
// the one position of an error in a document that may be large.
func Position(data []byte, off int) (line, col int) {
	off = max(0, min(off, len(data)))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return bytes.Count(data[:start], []byte{'\n'}) + 1, column(data, start, off)
}

// column is the 1-based column of off in the line starting at start.
func column(data []byte, start, off int) int {
	return utf8.RuneCount(data[start:off]) + 1
}
