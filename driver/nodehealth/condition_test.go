package nodehealth

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"

	"github.com/srvlab/rds-csi/driver/device"
)

func TestEvaluate(t *testing.T) {
	live := device.PathHealth{NQN: testNQN, State: device.PathLive,
		Controllers: []device.Controller{{Name: "nvme0", State: "live", Address: "traddr=10.42.0.1,trsvcid=4420"}},
		Devices:     []string{"/dev/nvme0n1"}}
	with := func(state device.PathState, ctrlState string, devices ...string) device.PathHealth {
		p := live
		p.State, p.Devices = state, devices
		p.Controllers = []device.Controller{{Name: "nvme0", State: ctrlState}}
		return p
	}
	dev := unix.Mkdev(259, 1)
	onDev := &mount.MountInfo{Major: 259, Minor: 1, MountOptions: []string{"rw"}, SuperOptions: []string{"rw"}}
	fsVol := Volume{ID: testVol, NQN: testNQN, StagingPath: "/staging", Target: &device.Target{NQN: testNQN}}
	blockVol := Volume{ID: testVol, NQN: testNQN, Block: true, Target: &device.Target{NQN: testNQN}}
	tests := []struct {
		name     string
		f        facts
		want     []string
		contains string
		degraded bool
	}{
		{name: "healthy filesystem", f: facts{vol: fsVol, path: live, devRdev: dev, staging: onDev}},
		{name: "healthy block", f: facts{vol: blockVol, path: live, devRdev: dev}},
		{name: "connecting", f: facts{vol: fsVol, path: with(device.PathConnecting, "connecting", "/dev/nvme0n1"), devRdev: dev, staging: onDev},
			want: []string{ReasonPathReconnecting}, contains: "nvme0 connecting"},
		{name: "resetting", f: facts{vol: fsVol, path: with(device.PathResetting, "resetting", "/dev/nvme0n1"), devRdev: dev, staging: onDev},
			want: []string{ReasonPathReconnecting}},
		{name: "unknown kernel state", f: facts{vol: fsVol, path: with(device.PathUnknown, "unknown state", "/dev/nvme0n1"), devRdev: dev, staging: onDev},
			want: []string{ReasonPathStateUnknown}},
		{name: "deleting", f: facts{vol: fsVol, path: with(device.PathDeleting, "deleting (no IO)"), staging: onDev},
			want: []string{ReasonPathDeleting}},
		{name: "dead", f: facts{vol: fsVol, path: with(device.PathDead, "dead"), staging: onDev},
			want: []string{ReasonPathLost}, contains: "reconnected with the volume's own parameters"},
		{name: "absent, adopted", f: facts{vol: Volume{ID: testVol, NQN: testNQN}, path: device.PathHealth{NQN: testNQN, State: device.PathAbsent}},
			want: []string{ReasonPathLost}, contains: "not reconnected"},
		{name: "live without namespace", f: facts{vol: blockVol, path: with(device.PathLive, "live")},
			want: []string{ReasonDeviceMissing}},
		{name: "staging not mounted", f: facts{vol: fsVol, path: live, devRdev: dev},
			want: []string{ReasonStagingNotMounted}},
		{name: "staging on a renumbered device", f: facts{vol: fsVol, path: live, devRdev: unix.Mkdev(259, 3), staging: onDev},
			want: []string{ReasonStagingDeviceStale}, contains: "259:1"},
		{name: "read-only after an error", f: facts{vol: fsVol, path: live, devRdev: dev,
			staging: &mount.MountInfo{Major: 259, Minor: 1, MountOptions: []string{"rw"}, SuperOptions: []string{"rw", "emergency_ro"}}},
			want: []string{ReasonReadOnlyAfterError}, degraded: true},
		{name: "read-only on purpose", f: facts{vol: Volume{ID: testVol, NQN: testNQN, StagingPath: "/s", ReadOnly: true}, path: live, devRdev: dev,
			staging: &mount.MountInfo{Major: 259, Minor: 1, MountOptions: []string{"ro"}, SuperOptions: []string{"ro"}}}},
		{name: "block target bound to a stale device", f: facts{vol: blockVol, path: live, devRdev: dev,
			targets: []targetFact{{path: "/t", mounted: true, rdev: unix.Mkdev(259, 9)}}},
			want: []string{ReasonPublishedDeviceStale}},
		{name: "lost path: the staging mount cannot be compared", f: facts{vol: fsVol, path: with(device.PathDead, "dead"), staging: onDev},
			want: []string{ReasonPathLost}},
		{name: "sysfs unreadable", f: facts{vol: fsVol, pathErr: errors.New("EIO"), staging: onDev},
			want: []string{ReasonHealthUnknown}},
		{name: "mount table unreadable", f: facts{vol: fsVol, path: live, devRdev: dev, mountsErr: errors.New("EIO")},
			want: []string{ReasonHealthUnknown}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := evaluate(tc.f)
			var got []string
			for _, p := range ps {
				got = append(got, p.Reason)
				if p.Message == "" {
					t.Errorf("%s without a message", p.Reason)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("reasons %v, want %v (%+v)", got, tc.want, ps)
			}
			c := Condition{Problems: ps}
			if tc.contains != "" && !strings.Contains(c.Message(), tc.contains) {
				t.Errorf("message %q lacks %q", c.Message(), tc.contains)
			}
			if len(ps) > 0 && ps[0].Degraded != tc.degraded {
				t.Errorf("degraded = %v, want %v", ps[0].Degraded, tc.degraded)
			}
			for _, r := range got {
				if !slices.Contains(Reasons, r) {
					t.Errorf("reason %s is missing from Reasons (the metric would not have it)", r)
				}
			}
		})
	}
}
