// Package nodehealth watches the data path of every volume staged on a node
// and repairs what it safely can.
//
// What it reads, and only reads: the NVMe (or loop) topology in sysfs
// through device.PathReader, and the mount table. It never runs a command
// to look, so the CSI request path can ask it anything.
//
// What it may change, and nothing else:
//   - it reconnects a staged volume whose path the kernel gave up (no
//     controller left, or only dead or deleted ones, and no block device)
//     while a mount still depends on it, with the volume's own connect
//     parameters, under the volume's lock, with backoff;
//   - at node start it disconnects managed connections that belong to no
//     staged volume and that nothing uses (no mount in this namespace, no
//     exclusive holder anywhere on the host).
//
// It never unmounts, never touches an NQN outside the managed prefix, and
// never acts on a volume that a node RPC holds the lock of.
//
// Flow: a ticker and the node's own calls only enqueue keys (a volume id,
// or the full-pass key) into the health queue; its worker reads the facts,
// computes the volume's condition, records events on transitions, updates
// the metrics and, for a path the kernel gave up, hands the volume id once
// to the reconnect queue. The reconnect worker tries a connect and returns
// its error, so the queue backs off (AddRateLimited exactly once per failed
// attempt, Forget on success); a volume waiting out its backoff is not
// enqueued again by later passes.
//
// What the node knows about its staged volumes (how each was connected,
// where it is staged, which Pods use it) is kept in a Store: one JSON file
// per volume under --node-state-dir, so that it survives a restart of the
// plugin. Without a state directory it lives in memory only, and orphan
// cleanup is off: nothing could tell an orphan from a volume staged before
// the restart.
package nodehealth
