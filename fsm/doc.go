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
//     the loss of a stable connection): the first redial happens at once,
//     because an RDS that merely dropped the TCP session is usually back
//     immediately. Waiting happens only in Backoff, after a failed attempt,
//     with the jittered exponential delay of the reconnect queue (1 s, 2 s,
//     4 s … 16 s by default, never above the cap).
//   - A successful connect does not reset the backoff; a connection that
//     stays up for StableAfter does (when it is lost, the schedule starts
//     again at the base step and the redial is immediate). A connection that
//     dies sooner is flapping (RDS booting, SSH session limit hit): it goes
//     Disconnected → Backoff (scheduleRetry) with the next step of the
//     schedule, so an RDS that accepts and drops every connection is dialled
//     after 1, 2, 4, 8, 16, 16 s …, never in a tight handshake loop, and each
//     Reconnected (with its attachment pass) comes ever more rarely.
//   - A dial succeeds only if its connection is still up when the loop acts
//     on the result: losses carry the generation of their connection
//     (rds.LostError), and a loss of the connection the pending dial has just
//     made, read before or after the dial result, makes the attempt fail
//     (Reconnecting → Backoff) instead of answering ready on a dead
//     connection. The stale loss of an older connection is ignored.
//   - In Backoff after an attempt that failed before TCP connected
//     (rds.ErrUnreachable: the RDS is not listening), the loop probes the port
//     with a bare TCP connect every ProbeInterval and dials as soon as one
//     connects (Backoff → Reconnecting by reachable), so an RDS back from an
//     outage is used within a fraction of a second rather than at the end of
//     a 16 s step. After a handshake failure or a dropped connection it never
//     probes: something listens already, and the step is waited out.
//   - Backoff waits for a ticket: each entry into Backoff adds a new item to
//     the reconnect queue (AddRateLimited, all items sharing one failure
//     count), so a step cut short by a probe leaves a stale ticket that is
//     only Done when it comes out, never an early or a late next step.
//   - The very first connect is not a reconnect: it gets its own event
//     reasons (RDSConnecting, RDSConnected, RDSConnectFailed) and does not
//     feed rds_csi_rds_reconnect_duration_seconds, which measures outages
//     (leaving Connected to re-entering it). rds_csi_rds_reconnect_total
//     counts every attempt, including those of the first connect, so an RDS
//     that is down at startup shows up as failures.
//
// One goroutine, Run, drives the machine; see loop.go (with backoff.go and
// probe.go) for how it handles each input. Callbacks run on that goroutine, never do I/O, never block and never
// fire events; they keep the metrics, the Kubernetes events and the
// bookkeeping (outage start, attempt count) consistent with every transition.
package fsm

//go:generate go test -run TestArchitectureDiagram -update .
