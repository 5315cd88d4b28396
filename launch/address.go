package launch

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/modelgate/modelgate/vllmcmd"
)

// maxSocketPath is the longest unix socket path every Unix accepts
// (sun_path holds 104 bytes on macOS and the BSDs, 108 on Linux, with the
// terminating NUL).
const maxSocketPath = 103

// Address is where a vLLM behind the gate (`modelgate exec --listen`)
// listens: an address nobody but modelgate's gate should reach, because
// requests that reach vLLM there skip the gate's checks.
type Address struct {
	listen   vllmcmd.Listen
	upstream string
	dir      string // the unix socket's private folder, or ""
}

// NewAddress chooses vLLM's private address: with uds, a unix socket in a
// new folder only this user may enter (see PrivateDir), so that no other
// user can connect past the gate; else a free port on 127.0.0.1, which
// any local process could reach. Call Remove once vLLM is gone.
func NewAddress(uds bool) (*Address, error) {
	if !uds {
		port, err := freeLoopbackPort()
		if err != nil {
			return nil, err
		}
		return &Address{listen: vllmcmd.Listen{Host: "127.0.0.1", Port: port}, upstream: "http://127.0.0.1:" + strconv.Itoa(port)}, nil
	}
	dir, err := PrivateDir("modelgate-vllm-")
	if err != nil {
		return nil, fmt.Errorf("a folder for vLLM's socket: %w", err)
	}
	sock := filepath.Join(dir, "vllm.sock")
	if len(sock) > maxSocketPath {
		os.Remove(dir)
		return nil, fmt.Errorf("vLLM's socket path %q is longer than unix sockets allow (%d bytes): point TMPDIR (or XDG_RUNTIME_DIR) at a shorter folder",
			sock, maxSocketPath)
	}
	return &Address{listen: vllmcmd.Listen{UDS: sock}, upstream: "unix:" + sock, dir: dir}, nil
}

// freeLoopbackPort asks the kernel for a free port on 127.0.0.1 and
// frees it again for vLLM. Another process may take it in between: vLLM
// then fails to start and exec --listen exits with its status. A unix
// socket has no such race.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("a free loopback port for vLLM: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port, nil
}

// Listen is the address as vLLM's own options (--host and --port, or
// --uds), for Plan.Argv.
func (a *Address) Listen() vllmcmd.Listen { return a.listen }

// Upstream is the address as the gate's upstream URL
// ("http://127.0.0.1:PORT" or "unix:/path/to/vllm.sock").
func (a *Address) Upstream() string { return a.upstream }

// Remove deletes the unix socket's private folder, if there is one. Call
// it once vLLM has exited: the socket goes with it.
func (a *Address) Remove() {
	if a.dir != "" {
		os.RemoveAll(a.dir)
	}
}
