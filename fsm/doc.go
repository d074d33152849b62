// Package fsm owns the state of the driver's one SSH control connection to
// the RDS. Nothing else changes it: CSI calls read it (Connected, State) to
// answer Unavailable fast, /healthz reads the loop's heartbeat, and
// subscribers hear about every (re)connection.
//
// The machine (the table is in table.go, drawn in docs/architecture.md):
//
//   - It starts in Disconnected, not Connected: the driver has no connection
//     yet, so the first connect is an ordinary attempt (Disconnected →
//     Reconnecting → Connected), and a failing first connect backs off
//     exactly like any later one (Reconnecting → Backoff).
//   - Leaving Disconnected goes straight to Reconnecting (first connect, and
//     the loss of a stable connection): the first redial happens at once, because an RDS that merely dropped the
//     TCP session is usually back immediately. Waiting happens only in
//     Backoff, after a failed attempt, with the jittered exponential delay of
//     the reconnect queue (1 s, 2 s, 4 s … 16 s by default).
//   - Every successful connect forgets the reconnect key, so the next outage
//     starts again at the base step. A connection that dies before it was up
//     for StableAfter is flapping (RDS booting, SSH session limit hit): it goes
//     Disconnected → Backoff (scheduleRetry) instead of redialling at once, so
//     a flapping RDS is dialled at most once per base step, never in a tight
//     handshake loop.
//   - The very first connect is not a reconnect: it gets its own event
//     reasons (RDSConnecting, RDSConnected, RDSConnectFailed) and does not
//     feed rds_csi_rds_reconnect_duration_seconds, which measures outages
//     (leaving Connected to re-entering it). rds_csi_rds_reconnect_total
//     counts every attempt, including those of the first connect, so an RDS
//     that is down at startup shows up as failures.
//
// One goroutine, Run, drives the machine; see loop.go for how it handles each
// input. Callbacks run on that goroutine, never do I/O, never block and never
// fire events; they keep the metrics, the Kubernetes events and the
// bookkeeping (outage start, attempt count) consistent with every transition.
package fsm

//go:generate go test -run TestArchitectureDiagram -update .
