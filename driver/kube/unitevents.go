package kube

import "fmt"

// Connection events of one RDS among several. events.k8s.io folds events
// with the same regarding object, reason and action into one series that
// keeps the first note only, so two units losing their connections would
// read as one: each unit's events get an action of their own
// ("RDSConnection/<unit>") and a note that names the unit and its address.

// podEventer records a connection event with a given action regarding the
// controller Pod (apiRecorder and LogRecorder).
type podEventer interface {
	podEvent(eventType, reason, action, note string)
}

// UnitRecorder records r's connection events for the RDS unit called unit
// at address. Its Event satisfies fsm.Recorder.
type UnitRecorder struct {
	r             Recorder
	unit, address string
}

// ForUnit returns the connection-event recorder of one RDS unit.
func ForUnit(r Recorder, unit, address string) *UnitRecorder {
	return &UnitRecorder{r: r, unit: unit, address: address}
}

// Event records a connection event of the unit.
func (u *UnitRecorder) Event(eventType, reason, note string) {
	note = fmt.Sprintf("RDS %s (%s): %s", u.unit, u.address, note)
	if p, ok := u.r.(podEventer); ok {
		p.podEvent(eventType, reason, ActionRDSConnection+"/"+u.unit, note)
		return
	}
	u.r.Event(eventType, reason, note)
}

func (r *apiRecorder) podEvent(eventType, reason, action, note string) {
	if r.pod == nil {
		r.log.podEvent(eventType, reason, action, note)
		return
	}
	r.recorder.Eventf(r.pod, nil, eventType, reason, action, "%s", note)
}

func (r *LogRecorder) podEvent(eventType, reason, action, note string) {
	r.logger.Info("Event", "type", eventType, "reason", reason, "action", action, "note", note)
}
