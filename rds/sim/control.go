package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// controlHandler is the HTTP control endpoint used by tests and benchmarks
// that run the emulator as a separate process:
//
//	GET  /healthz              "ok"
//	POST /drop                 cut every SSH connection
//	PUT  /faults/{fault}       body "on" or "off"; fault is refuse, hang or disk-full
//	PUT  /faults/max-sessions  body a decimal integer, "0" or "off" = unlimited
//	PUT  /faults/copy-rate     body bytes per second with K/M/G/T suffix ("100M"), "0" or "off" = instant
//	PUT  /faults/flap          body a Go duration ("200ms"), "0" or "off" = off
//	PUT  /faults/drop-answer   body a command prefix ("/disk remove"): the next such
//	                           command runs, then every connection is cut before its
//	                           answer (one-shot); "off" disarms
//	GET  /faults               JSON object: refuse, hang, disk-full → bool;
//	                           max-sessions → number, copy-rate → number (bytes/s),
//	                           flap → Go duration string ("0s" when off),
//	                           drop-answer → armed prefix ("" when off)
//	GET  /commands             every command received, one per line (text/plain)
//	GET  /stats                JSON {"commands", "command_seconds", "connectionsAccepted",
//	                           "handshakes", "sessionsRefused"}
//	GET  /connections          JSON list of every accepted connection in accept order:
//	                           {"remote", "acceptedAt", "handshakeAt", "closedAt"},
//	                           times RFC 3339 with nanoseconds in UTC, "" when not (yet) happened
//
// The specific /faults/... patterns take precedence over /faults/{fault}.
// It has no authentication; Start binds it to loopback only.
func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("POST /drop", func(w http.ResponseWriter, _ *http.Request) {
		s.Drop()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /faults/{fault}", func(w http.ResponseWriter, r *http.Request) {
		f := Fault(r.PathValue("fault"))
		if !f.valid() {
			http.Error(w, "unknown fault "+string(f), http.StatusNotFound)
			return
		}
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		switch body {
		case "on":
			s.SetFault(f, true)
		case "off":
			s.SetFault(f, false)
		default:
			http.Error(w, `body must be "on" or "off"`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /faults/max-sessions", setKnob(parseMaxSessions, s.SetMaxSessions))
	mux.HandleFunc("PUT /faults/copy-rate", setKnob(ParseCopyRate, s.SetCopyRate))
	mux.HandleFunc("PUT /faults/flap", setKnob(ParseFlapAfter, s.SetFlapAfter))
	mux.HandleFunc("PUT /faults/drop-answer", setKnob(ParseDropAnswer, s.DropAnswerOnce))
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		state := map[string]any{
			"max-sessions": s.MaxSessions(),
			"copy-rate":    s.CopyRate(),
			"flap":         s.FlapAfter().String(),
			"drop-answer":  s.DropAnswerArmed(),
		}
		for _, f := range Faults {
			state[string(f)] = s.FaultOn(f)
		}
		writeJSON(w, state)
	})
	mux.HandleFunc("GET /commands", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// A line break inside a command would split it; show it escaped.
		esc := strings.NewReplacer("\r", `\r`, "\n", `\n`)
		var b strings.Builder
		for _, c := range s.Commands() {
			b.WriteString(esc.Replace(c))
			b.WriteByte('\n')
		}
		_, _ = io.WriteString(w, b.String())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		st := s.Stats()
		writeJSON(w, struct {
			Commands            int64   `json:"commands"`
			CommandSeconds      float64 `json:"command_seconds"`
			ConnectionsAccepted int64   `json:"connectionsAccepted"`
			Handshakes          int64   `json:"handshakes"`
			SessionsRefused     int64   `json:"sessionsRefused"`
		}{st.Commands, st.CommandTime.Seconds(), st.ConnectionsAccepted, st.Handshakes, st.SessionsRefused})
	})
	mux.HandleFunc("GET /connections", func(w http.ResponseWriter, _ *http.Request) {
		type conn struct {
			Remote      string `json:"remote"`
			AcceptedAt  string `json:"acceptedAt"`
			HandshakeAt string `json:"handshakeAt"`
			ClosedAt    string `json:"closedAt"`
		}
		list := []conn{} // [] rather than null when there are none
		for _, c := range s.Connections() {
			list = append(list, conn{c.Remote, stamp(c.AcceptedAt), stamp(c.HandshakeAt), stamp(c.ClosedAt)})
		}
		writeJSON(w, list)
	})
	return mux
}

// setKnob handles a PUT of a valued fault: parse the body, apply it.
func setKnob[T any](parse func(string) (T, error), set func(T) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		v, err := parse(body)
		if err == nil {
			err = set(v)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// readBody returns the trimmed request body, or answers 400 itself.
func readBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return "", false
	}
	return strings.TrimSpace(string(body)), true
}

// stamp formats a time for JSON: RFC 3339 with nanoseconds in UTC, or ""
// for the zero time (the event did not happen).
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
