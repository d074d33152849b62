// Package sim emulates a MikroTik ROSE Data Server (RDS) as the driver sees
// it: a RouterOS command line reached through SSH exec requests, answering
// with the bytes real hardware prints (CRLF, 80-column wrapping inside
// values, grouped byte counts), backed by real sparse files and a state file
// that survives kill -9. Faults (refused or dropped connections, hanging
// commands, a full pool) and hardware-like latency are switchable at run
// time so the driver's error paths can be tested against something honest.
//
// # Partial faults
//
// Besides all-or-nothing faults, the emulator models the partial ones a
// real RDS shows in the field (Config fields, rds-sim flags and control
// endpoints; see knobs.go):
//
//   - A per-connection session limit (MaxSessions). A session channel beyond
//     it is refused with ssh.ResourceShortage, "too many sessions". A session
//     counts from its accept until its command is finished and its close
//     sent (or, without a command, until the client closes it); a command
//     still running after its client left keeps counting.
//   - Flapping (FlapAfter): every connection completes its TCP accept and
//     SSH handshake normally and is closed by the server FlapAfter later.
//   - Slow copies (CopyRate), below.
//
// # Commands outlive their caller
//
// As on RouterOS, a command runs to completion and its effects apply even
// when its client closes the session or loses the connection meanwhile
// (during latency, a copy, or the hang fault); only the answer is lost.
// Only closing the server (a power loss, or Restart in simtest) abandons
// running commands.
//
// # The mid-copy model
//
// What real hardware shows while /disk add copy-from runs is unverified;
// this is the model the driver is built against. A copy takes (source disk's
// size)/CopyRate. From the moment it starts:
//
//   - the target backing file exists (empty until the copy ends), so
//     /file print lists it and /file remove of it answers "failure: file is
//     in use by a disk";
//   - the pool's free space already accounts for the copy's full size;
//   - another add with the same file-path answers "failure: file already
//     exists", and one with the same slot "failure: disk with such slot
//     already exists" (the slot check comes first), exactly as for an
//     existing disk;
//   - the disk does not appear in /disk print ([find slot=...] finds
//     nothing, so set answers "no such item" and remove does nothing) until
//     the copy has finished; then the record appears, the state is persisted,
//     and only then the add answers success;
//   - the state lock is not held: every other command, other copies
//     included, answers normally and concurrently.
//
// The data is written when the copy ends, read from the source file held
// open since it started: removing the source disk or file meanwhile does not
// break the copy, and writes to the source meanwhile end up in it. If the emulator dies mid-copy (kill -9, or Close), the
// target file stays on disk and no disk record exists, like a power loss;
// nothing removes that file at the next start, so a retry of the same add
// answers "file already exists" until the file is removed.
//
// The package deliberately does not import package rds: the client's own
// tests start this emulator (through simtest), and an import of rds here
// would make those in-package tests an import cycle. The emulator therefore
// keeps its own validation rules, which are those of the device, not those
// of the client.
//
// Layout of a data directory:
//
//	state.json              disks and file creation times (atomic rewrite)
//	ssh_host_ed25519_key    host key, created on first start (default path)
//	<pool>/...              backing files; file-path /storage-pool/x.img
//	                        lives at <data-dir>/storage-pool/x.img
package sim
