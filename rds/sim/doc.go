// Package sim emulates a MikroTik ROSE Data Server (RDS) as the driver sees
// it: a RouterOS command line reached through SSH exec requests, answering
// with the bytes real hardware prints (CRLF, 80-column wrapping inside
// values, grouped byte counts), backed by real sparse files and a state file
// that survives kill -9. Faults (refused or dropped connections, hanging
// commands, a full pool) and hardware-like latency are switchable at run
// time so the driver's error paths can be tested against something honest.
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
