package fsm

import lfsm "github.com/looplab/fsm"

// State of the RDS connection.
type State string

// States. The values are metric labels and appear in events and logs.
const (
	StateDisconnected State = "Disconnected" // no connection, no attempt running
	StateReconnecting State = "Reconnecting" // a dial is in flight
	StateConnected    State = "Connected"    // the connection works
	StateBackoff      State = "Backoff"      // waiting out the reconnect delay
)

// Event is an input that moves the machine.
type Event string

// Events. The values are metric labels.
const (
	EventConnectionLost Event = "connectionLost" // connection closed, transport error or failed health check
	EventScheduleRetry  Event = "scheduleRetry"  // the lost connection was flapping: wait before redialling
	EventAttempt        Event = "attempt"        // start a dial
	EventReachable      Event = "reachable"      // a TCP probe connected: dial now, without waiting out the backoff step
	EventReconnected    Event = "reconnected"    // the dial succeeded
	EventAttemptFailed  Event = "attemptFailed"  // the dial failed
)

// startState: the driver starts without a connection (see the package doc).
const startState = StateDisconnected

// transitions is the whole machine.
var transitions = []struct {
	event Event
	src   []State
	dst   State
}{
	{EventConnectionLost, []State{StateConnected}, StateDisconnected},
	{EventScheduleRetry, []State{StateDisconnected}, StateBackoff},
	{EventAttempt, []State{StateDisconnected, StateBackoff}, StateReconnecting},
	{EventReachable, []State{StateBackoff}, StateReconnecting},
	{EventReconnected, []State{StateReconnecting}, StateConnected},
	{EventAttemptFailed, []State{StateReconnecting}, StateBackoff},
}

// States and Events list every declared value (stable order: metrics
// initialisation, tests).
var (
	States = []State{StateDisconnected, StateReconnecting, StateConnected, StateBackoff}
	Events = []Event{EventConnectionLost, EventScheduleRetry, EventAttempt, EventReachable, EventReconnected, EventAttemptFailed}
)

// newLooplab builds the library FSM from the table.
func newLooplab(initial State, callbacks lfsm.Callbacks) *lfsm.FSM {
	descs := make(lfsm.Events, 0, len(transitions))
	for _, t := range transitions {
		src := make([]string, len(t.src))
		for i, s := range t.src {
			src[i] = string(s)
		}
		descs = append(descs, lfsm.EventDesc{Name: string(t.event), Src: src, Dst: string(t.dst)})
	}
	return lfsm.NewFSM(string(initial), descs, callbacks)
}

// Diagram draws the machine as a Mermaid state diagram (from the start
// state, so the drawing does not depend on a running machine's state).
func Diagram() string {
	out, err := lfsm.VisualizeWithType(newLooplab(startState, nil), lfsm.MERMAID)
	if err != nil {
		// Only an unknown visualisation type fails; MERMAID is a constant.
		panic(err)
	}
	return out
}
