package procs

import (
	"context"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// Probe calls Identity.Probe under a one-second deadline. An answer, ready
// or not, means the driver process serves its socket; ready follows its RDS
// connection.
func Probe(identity csi.IdentityClient) (ready bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := identity.Probe(ctx, &csi.ProbeRequest{})
	if err != nil {
		return false, err
	}
	return resp.GetReady().GetValue(), nil
}
