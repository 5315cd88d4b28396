//go:build unix

package modelsig

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/modelgate/modelgate/internal/ctxerr"
)

// lockModel takes an exclusive advisory lock (flock) on the directory dir
// and returns the function that releases it. Only signs take it, so
// verifies never wait; it creates no file, and the kernel drops it when
// the process dies. It waits for another holder while ctx allows, polling
// (a blocked flock cannot be cancelled). Where the file system does not
// support flock, signing goes on unlocked.
func lockModel(ctx context.Context, dir string) (func(), error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("lock %q: %w", dir, err)
	}
	unlock := func() { unix.Close(fd) } // closing the last descriptor releases the lock
	wait := time.Millisecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return unlock, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOLCK), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return unlock, nil
		case !errors.Is(err, unix.EWOULDBLOCK):
			unlock()
			return nil, fmt.Errorf("lock %q: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			unlock()
			return nil, fmt.Errorf("waiting for another sign of %q to finish: %w", dir, ctxerr.Err(ctx))
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}
