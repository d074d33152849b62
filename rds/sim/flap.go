package sim

import (
	"context"
	"net"
	"time"

	"k8s.io/klog/v2"
)

// flap closes a connection d after its handshake, like a device or link
// that keeps dropping established sessions while new ones still succeed.
// The connection's context ends first when it closes for any other reason.
// Commands running on it go on to completion (see runExec).
func (s *Server) flap(ctx context.Context, log klog.Logger, nc net.Conn, d time.Duration) {
	defer s.wg.Done()
	if sleepCtx(ctx, d) {
		log.V(1).Info("Closing connection (flap fault)", "flapAfter", d)
		_ = nc.Close()
	}
}
