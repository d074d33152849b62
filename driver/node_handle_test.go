package driver

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/driver/device"
)

// The node plugin takes volume handles of any unit: the NQN is the slot's.
func TestNodeTargetOfHandles(t *testing.T) {
	for _, tc := range []struct {
		id       string
		nqn      string // context NQN; "" none
		wantNQN  string
		wantCode codes.Code
	}{
		{id: nodeTestVol, wantNQN: "nqn.2000-02.com.mikrotik:" + nodeTestVol},
		{id: "b:" + nodeTestVol, wantNQN: "nqn.2000-02.com.mikrotik:" + nodeTestVol},
		{id: "b:" + nodeTestVol, nqn: "nqn.2000-02.com.mikrotik:" + nodeTestVol, wantNQN: "nqn.2000-02.com.mikrotik:" + nodeTestVol},
		// The context may not point a handle at another slot's NQN.
		{id: "b:" + nodeTestVol, nqn: "nqn.2000-02.com.mikrotik:pvc-other", wantCode: codes.InvalidArgument},
	} {
		t.Run(tc.id+"/"+tc.nqn, func(t *testing.T) {
			vol := map[string]string{CtxNVMeAddress: "10.0.0.1"}
			if tc.nqn != "" {
				vol[CtxNQN] = tc.nqn
			}
			tg, err := nodeTarget(tc.id, device.DefaultManagedPrefix, nil, vol)
			if status.Code(err) != tc.wantCode {
				t.Fatalf("err %v, want %v", err, tc.wantCode)
			}
			if err == nil && tg.NQN != tc.wantNQN {
				t.Errorf("NQN %s, want %s", tg.NQN, tc.wantNQN)
			}
		})
	}
	for _, bad := range []string{"B:" + nodeTestVol, "b:c:" + nodeTestVol, "b;reboot:" + nodeTestVol, "b:"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			if err := validateVolumeHandle(bad); status.Code(err) != codes.InvalidArgument {
				t.Errorf("validateVolumeHandle(%q) = %v, want InvalidArgument", bad, err)
			}
		})
	}
}

func TestNodeGetInfoTopology(t *testing.T) {
	ns := nodeNewTest(t, &nodeFakeConnector{})
	resp, err := ns.NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{})
	if err != nil || resp.GetAccessibleTopology() != nil {
		t.Fatalf("without topology: %v, %v", resp.GetAccessibleTopology(), err)
	}
	ns.cfg.Topology = map[string]string{"topology.rds.csi.srvlab.io/rds": "rack-a"}
	resp, err = ns.NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{})
	if err != nil || resp.GetAccessibleTopology().GetSegments()["topology.rds.csi.srvlab.io/rds"] != "rack-a" {
		t.Fatalf("with topology: %v, %v", resp.GetAccessibleTopology(), err)
	}
}
