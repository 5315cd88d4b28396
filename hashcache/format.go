package hashcache

import (
	"encoding/binary"

	"github.com/modelgate/modelgate/manifest"
)

// The store's layout. Entries live in one bucket; a key is the FileKey in
// fixed-width big-endian fields, device and inode first so that all the
// entries of one file are adjacent (a batch finds them with one seek), and
// the hash name last. A value starts with the format version: an entry of
// any other version is never used, and Prune drops it.
var (
	bucketDigests = []byte("digests")
	bucketMeta    = []byte("meta")
	keyCount      = []byte("count") // entries in bucketDigests, big-endian uint64
)

// formatVersion is the version byte of every value this code writes.
const formatVersion = 1

const (
	idLen     = 16         // device, inode
	fixedKey  = idLen + 40 // size, mtime, ctime, start, end
	maxHash   = 32         // longest hash name stored
	valueHead = 1 + 8 + 1  // version, last use (Unix seconds), digest length
)

// encodeID returns the key prefix shared by every entry of one file.
func encodeID(id manifest.FileID) []byte {
	b := make([]byte, idLen)
	binary.BigEndian.PutUint64(b, id.Device)
	binary.BigEndian.PutUint64(b[8:], id.Inode)
	return b
}

// decodeID returns the file identity at the start of a key, which has
// at least idLen bytes.
func decodeID(b []byte) manifest.FileID {
	return manifest.FileID{Device: binary.BigEndian.Uint64(b), Inode: binary.BigEndian.Uint64(b[8:])}
}

func encodeKey(k manifest.FileKey) []byte {
	b := make([]byte, fixedKey, fixedKey+len(k.Hash))
	binary.BigEndian.PutUint64(b, k.Device)
	binary.BigEndian.PutUint64(b[8:], k.Inode)
	binary.BigEndian.PutUint64(b[16:], uint64(k.Size))       //nolint:gosec // a bit pattern, not a quantity
	binary.BigEndian.PutUint64(b[24:], uint64(k.ModTime))    //nolint:gosec // as above
	binary.BigEndian.PutUint64(b[32:], uint64(k.ChangeTime)) //nolint:gosec // as above
	binary.BigEndian.PutUint64(b[40:], uint64(k.Start))      //nolint:gosec // as above
	binary.BigEndian.PutUint64(b[48:], uint64(k.End))        //nolint:gosec // as above
	return append(b, k.Hash...)
}

// decodeKey parses a key; ok is false for one this code did not write.
func decodeKey(b []byte) (manifest.FileKey, bool) {
	if len(b) <= fixedKey || len(b) > fixedKey+maxHash {
		return manifest.FileKey{}, false
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[i:]) }
	return manifest.FileKey{
		Device:     u(0),
		Inode:      u(8),
		Size:       int64(u(16)), //nolint:gosec // see encodeKey
		ModTime:    int64(u(24)), //nolint:gosec
		ChangeTime: int64(u(32)), //nolint:gosec
		Start:      int64(u(40)), //nolint:gosec
		End:        int64(u(48)), //nolint:gosec
		Hash:       manifest.HashType(b[fixedKey:]),
	}, true
}

// entry is a decoded value.
type entry struct {
	used   int64 // last use, Unix seconds
	digest []byte
	path   string // where the file was found; for Prune only
}

func encodeValue(e entry) []byte {
	b := make([]byte, valueHead, valueHead+len(e.digest)+len(e.path))
	b[0] = formatVersion
	binary.BigEndian.PutUint64(b[1:], uint64(e.used)) //nolint:gosec // a time, not negative
	b[9] = byte(len(e.digest))
	b = append(b, e.digest...)
	return append(b, e.path...)
}

// decodeValue parses a value into fresh memory (bbolt's values live only
// as long as their transaction); ok is false for another version or a
// malformed value.
func decodeValue(v []byte) (entry, bool) {
	e, ok := decodeDigest(v)
	if ok {
		e.path = string(v[valueHead+len(e.digest):])
	}
	return e, ok
}

// decodeDigest is decodeValue without the path, which answering a lookup
// does not need.
func decodeDigest(v []byte) (entry, bool) {
	if len(v) < valueHead || v[0] != formatVersion {
		return entry{}, false
	}
	n := int(v[9])
	if n == 0 || len(v) < valueHead+n {
		return entry{}, false
	}
	return entry{
		used:   int64(binary.BigEndian.Uint64(v[1:])), //nolint:gosec // see encodeValue
		digest: append([]byte(nil), v[valueHead:valueHead+n]...),
	}, true
}
