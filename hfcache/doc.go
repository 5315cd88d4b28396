// Package hfcache resolves Hugging Face hub ids ("org/name") in the local
// huggingface_hub cache, the way vLLM finds them when it runs offline, so
// that modelgate can verify exactly the snapshot vLLM will load.
//
// It never touches the network and never writes to the cache: a model that
// is not in the cache is an error that names the folder searched and the
// command that would fetch it (`hf download ...`).
//
// # Layout
//
// The cache root is chosen from the environment as huggingface_hub does
// ([FindCacheRoot]). A repository "org/name" lives in
// ROOT/models--org--name with three folders:
//
//	refs/main                   the commit "main" points to (40 hex digits)
//	refs/refs/pr/1              the commit of revision "refs/pr/1"
//	snapshots/COMMIT/FILE       a symlink to ../../blobs/ETAG (deeper for FILEs in folders)
//	blobs/ETAG                  the file contents
//
// A revision of 40 lowercase hex digits is a commit and is used directly;
// any other revision (default "main") names a file under refs/.
// huggingface_hub's negative cache (.no_exist/) and its in-progress
// downloads (blobs/*.incomplete) are never used: a file a signature lists
// must be present in the snapshot.
//
// # Trust model
//
// In modelgate's threat model the cache is writable by the attacker: anyone
// who can write into a model folder can write into ~/.cache/huggingface.
// So nothing read from it is believed on its own. Ids and revisions are
// validated before they touch the file system; a ref file is read bounded,
// without following a symlink or blocking on a FIFO, and must hold exactly
// one commit hash; every folder on the way (repository, refs, snapshots,
// blobs) must be a real directory, not a symlink; and [CheckSnapshot]
// confines every snapshot link to this repository's blobs/ folder. Passing
// these checks proves only that the snapshot has the shape huggingface_hub
// gives it, so that vLLM reads the same files modelgate hashes. What makes
// a model trusted is the signature verified over those files afterwards;
// the commit read from refs/ is a name for messages and policy keys, not a
// proof of content.
//
// Checks and later reads are separate system calls, so a writer racing
// modelgate can change the cache in between; the signature verification
// that follows hashes what it reads and is the check that counts. vLLM's
// own later reads are outside modelgate's reach (see docs/vllm.md).
package hfcache
