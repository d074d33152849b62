package nodehealth

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/klog/v2/ktesting"

	"github.com/srvlab/rds-csi/driver/device"
)

func TestStoreSurvivesARestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	logger := ktesting.NewLogger(t, ktesting.NewConfig())
	s := NewStore(dir, device.DefaultManagedPrefix)
	if fresh, err := s.Load(logger); err != nil || !fresh {
		t.Fatalf("first Load = %v, %v; want a fresh directory", fresh, err)
	}
	v := stagedVolume("/staging", "/target")
	v.BootID = testBoot
	if err := s.Put(v); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Update(testVol, func(v *Volume) { v.Publishes = append(v.Publishes, Publish{TargetPath: "/t2"}) }); !ok || err != nil {
		t.Fatalf("Update = %v, %v", ok, err)
	}
	if err := s.MarkInitialized(); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of a write leaves a temporary file.
	if err := os.WriteFile(filepath.Join(dir, ".tmp-x.json-123"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}

	again := NewStore(dir, device.DefaultManagedPrefix)
	fresh, err := again.Load(logger)
	if err != nil || fresh {
		t.Fatalf("Load after restart = %v, %v", fresh, err)
	}
	got, ok := again.Get(testVol)
	want, _ := s.Get(testVol)
	if !ok || !reflect.DeepEqual(got, want) || len(got.Publishes) != 2 || got.Target.CtrlLossTmo != 600 {
		t.Fatalf("after restart %+v\nwant %+v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-x.json-123")); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
	// Copies are independent of the store.
	got.Publishes[0].Pod.Name = "changed"
	if v2, _ := again.Get(testVol); v2.Publishes[0].Pod.Name != "db-0" {
		t.Fatal("Get shares memory with the store")
	}
	if err := again.Delete(testVol); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, testVol+".json")); !os.IsNotExist(err) {
		t.Fatalf("record file after Delete: %v", err)
	}
	if err := again.Delete(testVol); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestStoreRefusesForeignAndKeepsDamaged(t *testing.T) {
	tests := []struct {
		name, file, content string
		wantAdopted         bool // kept as an adopted volume
	}{
		{"foreign NQN", "boot-node-a.json", `{"id":"boot-node-a","nqn":"` + bootNQN + `"}`, false},
		{"managed id, foreign nqn inside", testVol + ".json", `{"id":"` + testVol + `","nqn":"` + bootNQN + `"}`, true},
		{"target pointing elsewhere", testVol + ".json", `{"id":"` + testVol + `","nqn":"` + testNQN + `","target":{"nqn":"` + otherNQN + `"}}`, true},
		{"record of another volume", testVol + ".json", `{"id":"` + otherVol + `","nqn":"` + otherNQN + `"}`, true},
		{"truncated JSON", testVol + ".json", `{"id":`, true},
		{"not a record", "notes.txt", "hello", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s := NewStore(dir, device.DefaultManagedPrefix)
			if _, err := s.Load(ktesting.NewLogger(t, ktesting.NewConfig())); err != nil {
				t.Fatal(err)
			}
			got := s.List()
			if !tc.wantAdopted {
				if len(got) != 0 {
					t.Fatalf("records %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].ID != testVol || got[0].NQN != testNQN || !got[0].Adopted() {
				t.Fatalf("records %+v, want %s adopted (watched, never reconnected)", got, testVol)
			}
		})
	}
	s := NewStore(t.TempDir(), device.DefaultManagedPrefix)
	if err := s.Put(Volume{ID: "boot-node-a", NQN: bootNQN}); err == nil {
		t.Fatal("Put accepted a foreign NQN")
	}
}
