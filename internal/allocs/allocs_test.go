package allocs

import "testing"

var sink []byte

// TestBytes: an allocation of a known size is counted, and nothing
// allocates nothing.
func TestBytes(t *testing.T) {
	SkipUnderRace(t)
	if got := Bytes(func() { sink = make([]byte, 1<<20) }); got < 1<<20 || got > 1<<20+64<<10 {
		t.Errorf("a 1 MiB allocation counted as %d bytes", got)
	}
	if got := Bytes(func() {}); got > 4<<10 {
		t.Errorf("an empty function counted as %d bytes", got)
	}
}
