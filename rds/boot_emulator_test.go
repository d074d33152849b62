package rds_test

import (
	"context"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// TestBootTimeOverSSH: the emulator "boots" when it is created, so the boot
// time read back over SSH (clock minus uptime, whole seconds) lies within
// the start of the emulator, to the seconds of rounding, also after time
// has passed.
func TestBootTimeOverSSH(t *testing.T) {
	before := time.Now()
	env := simtest.Start(t)
	after := time.Now()
	c := connectedClient(t, env, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for i := range 2 {
		if i == 1 {
			time.Sleep(1100 * time.Millisecond) // uptime moves on; the boot time must not
		}
		boot, err := c.BootTime(ctx)
		if err != nil {
			t.Fatalf("BootTime: %v", err)
		}
		if boot.Before(before.Add(-2*time.Second)) || boot.After(after.Add(2*time.Second)) {
			t.Fatalf("BootTime = %s, want within 2 s of the emulator's start [%s, %s]", boot, before, after)
		}
	}
}
