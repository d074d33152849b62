package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// controlHandler is the HTTP control endpoint used by tests and benchmarks
// that run the emulator as a separate process:
//
//	GET  /healthz          "ok"
//	POST /drop             cut every SSH connection
//	PUT  /faults/{fault}   body "on" or "off"; fault is refuse, hang or disk-full
//	GET  /faults           JSON object fault → bool
//	GET  /commands         every command received, one per line (text/plain)
//	GET  /stats            JSON {"commands": n, "command_seconds": s}
//
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
		body, err := io.ReadAll(io.LimitReader(r.Body, 64))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch strings.TrimSpace(string(body)) {
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
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		state := map[Fault]bool{}
		for _, f := range Faults {
			state[f] = s.FaultOn(f)
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
			Commands       int64   `json:"commands"`
			CommandSeconds float64 `json:"command_seconds"`
		}{st.Commands, st.CommandTime.Seconds()})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
