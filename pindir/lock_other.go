//go:build !unix

package pindir

import (
	"errors"
	"time"
)

// Without flock(2) there is no way to tell copies in use from copies that
// may be evicted: Open refuses.
const supported = false

const (
	lockShared    = 1
	lockExclusive = 2
)

var errBusy = errors.New("locked by another process")

type lockedFile struct{}

func lockNamed(string, int, time.Duration) (*lockedFile, error) { return nil, ErrUnsupported }
func (l *lockedFile) touch()                                    {}
func (l *lockedFile) keepOnExec() error                         { return ErrUnsupported }
func (l *lockedFile) writeSize(int64) error                     { return ErrUnsupported }
func (l *lockedFile) close()                                    {}
func (l *lockedFile) remove()                                   {}
func freeSpace(string) (int64, error)                           { return 0, ErrUnsupported }
func (l *lockedFile) synced() bool                              { return false }
func (l *lockedFile) markSynced() error                         { return ErrUnsupported }
func sameDevice(string, string) bool                            { return false }
