package sim_test

import (
	"strings"
	"testing"

	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// TestDropAnswer: the armed command runs to completion, its client gets no
// answer (the connection is cut), only the first matching command is
// affected, and a non-matching command before it is answered normally.
func TestDropAnswer(t *testing.T) {
	e := simtest.Start(t)
	if out, code := e.Run(t, "/disk add type=file file-path=/storage-pool/d/pvc-a.img file-size=1M slot=pvc-a"); code != 0 {
		t.Fatalf("add: %d %q", code, out)
	}
	if err := e.Server.DropAnswerOnce("/disk remove"); err != nil {
		t.Fatal(err)
	}
	if out, code := e.Run(t, "/disk print detail where slot=pvc-a"); code != 0 || !strings.Contains(out, "pvc-a") {
		t.Fatalf("a print before the armed command: %d %q", code, out)
	}

	c := e.Dial(t)
	_, _, err := simtest.Exec(c, "/disk remove [find slot=pvc-a]")
	if err == nil {
		t.Fatal("the armed command was answered; want the connection cut")
	}
	t.Logf("client saw: %v", err)
	if out, _ := e.Run(t, "/disk print detail where slot=pvc-a"); strings.Contains(out, "pvc-a") {
		t.Errorf("the disk is still there after the remove whose answer was dropped:\n%s", out)
	}
	if e.Server.DropAnswerArmed() != "" {
		t.Error("the fault is still armed after firing")
	}
	// One-shot: the next remove is answered.
	if out, code := e.Run(t, "/file remove [find name=\"storage-pool/d/pvc-a.img\"]"); code != 0 {
		t.Fatalf("file remove: %d %q", code, out)
	}
	if out, code := e.Run(t, "/disk remove [find slot=pvc-a]"); code != 0 {
		t.Errorf("a second remove after the fault fired: %d %q", code, out)
	}
	if err := e.Server.DropAnswerOnce("disk remove"); err == nil {
		t.Error("a prefix without the leading slash was accepted")
	}
}
