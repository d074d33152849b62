package rds_test

// Tests of the production client against the emulator over real SSH: the
// property that a listing parses back to exactly what was created, and the
// fault classification (transport vs RouterOS answer).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

func connectedClient(t *testing.T, env *simtest.Env, commandTimeout time.Duration) *rds.SSHClient {
	t.Helper()
	c, err := rds.NewSSHClient(rds.SSHConfig{
		Address:        env.Addr,
		User:           simtest.User,
		PrivateKeyPath: env.ClientKeyPath,
		HostKeyPath:    env.HostKeyPath,
		CommandTimeout: commandTimeout,
	})
	if err != nil {
		t.Fatalf("NewSSHClient: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789-"
const segAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

func randString(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// randID returns a valid slot: alphanumeric at both ends, long enough that
// quoted slots and NQNs wrap inside their values at 80 columns.
func randID(r *rand.Rand, prefix string) string {
	body := randString(r, idAlphabet, 20+r.IntN(70))
	return prefix + body + randString(r, "abcdefghijklmnopqrstuvwxyz0123456789", 1)
}

// randDir returns /storage-pool/<segments> with segments that are never "." or "..".
func randDir(r *rand.Rand) string {
	dir := "/storage-pool"
	for range 1 + r.IntN(4) {
		seg := randString(r, segAlphabet, 1+r.IntN(30))
		for strings.Contains(seg, "..") { // ".." is refused anywhere in a path
			seg = strings.ReplaceAll(seg, "..", "._")
		}
		if strings.Trim(seg, ".") == "" {
			seg = "d" + seg
		}
		dir += "/" + seg
	}
	return dir
}

func TestPropertyListingParsesBackToCreatedSet(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	env := simtest.Start(t, simtest.WithCapacity(1<<50))
	c := connectedClient(t, env, 30*time.Second)
	ctx := context.Background()

	for round := range 4 {
		prefix := fmt.Sprintf("prop%d-", round)
		want := map[string]rds.Volume{}
		for range 1 + r.IntN(10) {
			id := randID(r, prefix)
			dir := randDir(r)
			filePath := rds.FilePathFor(dir, id)
			if len(filePath) > 255 {
				filePath = rds.FilePathFor("/storage-pool/short", id)
			}
			size := 1 + r.Int64N(3<<30)
			_, allocated, err := rds.FileSizeArg(size)
			if err != nil {
				t.Fatalf("FileSizeArg(%d): %v", size, err)
			}
			req := rds.CreateVolumeRequest{ID: id, FilePath: filePath, SizeBytes: size}
			if r.IntN(3) > 0 {
				req.Export, req.Port, req.NQN = true, 1024+r.IntN(60000), rds.NQNFor(id)
			}
			got, err := c.CreateVolume(ctx, req)
			if err != nil {
				t.Fatalf("seed %d: CreateVolume(%+v): %v", seed, req, err)
			}
			if got.SizeBytes != allocated {
				t.Fatalf("seed %d: created %s with %d bytes, want %d", seed, id, got.SizeBytes, allocated)
			}
			want[id] = got
			if got.ID != id || got.FilePath != filePath || got.Exported != req.Export {
				t.Fatalf("seed %d: created volume %+v does not match request %+v", seed, got, req)
			}
			if req.Export && (got.NVMeTCPPort != req.Port || got.NQN != req.NQN) {
				t.Fatalf("seed %d: export of %+v does not match request %+v", seed, got, req)
			}
		}
		list, err := c.ListVolumes(ctx, prefix)
		if err != nil {
			t.Fatalf("seed %d: ListVolumes(%q): %v", seed, prefix, err)
		}
		if len(list) != len(want) {
			t.Fatalf("seed %d: listed %d volumes, created %d", seed, len(list), len(want))
		}
		for _, v := range list {
			w, ok := want[v.ID]
			if !ok {
				t.Fatalf("seed %d: listed unknown volume %+v", seed, v)
			}
			if v != w {
				t.Fatalf("seed %d: listed %+v, created %+v", seed, v, w)
			}
		}
	}
	// The listings above must really have contained wrapped values, or the
	// property proved nothing about wraps.
	out, _ := env.Run(t, `/disk print detail where slot~"prop"`)
	wrapped := false
	for line := range strings.SplitSeq(out, "\r\n") {
		if len(line) > 80 {
			t.Fatalf("emulator line longer than 80 columns: %q", line)
		}
		if strings.TrimSpace(line) != "" && !strings.Contains(line, "=") {
			wrapped = true // a continuation holding only the tail of a value
		}
	}
	if !wrapped {
		t.Fatalf("no mid-value wrap in the listing; the property did not exercise wraps:\n%s", out)
	}
}

func putFault(t *testing.T, env *simtest.Env, fault, state string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, env.ControlURL+"/faults/"+fault, strings.NewReader(state))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT /faults/%s: %v", fault, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT /faults/%s %s: HTTP %d", fault, state, resp.StatusCode)
	}
}

func TestFaultsAreClassified(t *testing.T) {
	ctx := context.Background()

	t.Run("drop fails an in-flight command as unavailable", func(t *testing.T) {
		env := simtest.Start(t)
		c := connectedClient(t, env, 30*time.Second)
		putFault(t, env, "hang", "on") // keeps the command in flight until the drop
		errc := make(chan error, 1)
		go func() { _, err := c.GetVolume(ctx, "pvc-inflight"); errc <- err }()
		waitFor(t, func() bool {
			return slices.ContainsFunc(env.Server.Commands(), func(s string) bool { return strings.Contains(s, "pvc-inflight") })
		})
		resp, err := http.Post(env.ControlURL+"/drop", "text/plain", nil)
		if err != nil {
			t.Fatalf("POST /drop: %v", err)
		}
		_ = resp.Body.Close()
		select {
		case err := <-errc:
			var ce *rds.CommandError
			if !errors.Is(err, rds.ErrUnavailable) || errors.As(err, &ce) {
				t.Fatalf("in-flight command after drop: %v; want ErrUnavailable and no CommandError", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("in-flight command did not fail after drop")
		}
		select {
		case lostErr := <-c.Lost():
			t.Logf("loss signalled: %v", lostErr)
		case <-time.After(5 * time.Second):
			t.Fatal("connection loss was not signalled")
		}
	})

	t.Run("hang fails at the command deadline", func(t *testing.T) {
		env := simtest.Start(t)
		c := connectedClient(t, env, 300*time.Millisecond)
		putFault(t, env, "hang", "on")
		start := time.Now()
		_, err := c.GetVolume(ctx, "pvc-hung")
		if !errors.Is(err, rds.ErrUnavailable) || !strings.Contains(err.Error(), "deadline") {
			t.Fatalf("hung command: %v; want ErrUnavailable mentioning the deadline", err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Fatalf("hung command returned after %s, far past its 300ms deadline", elapsed)
		}
	})

	t.Run("disk-full surfaces as no space", func(t *testing.T) {
		env := simtest.Start(t)
		c := connectedClient(t, env, 30*time.Second)
		putFault(t, env, "disk-full", "on")
		_, err := c.CreateVolume(ctx, rds.CreateVolumeRequest{ID: "pvc-full", FilePath: rds.FilePathFor(rds.DefaultVolumePath, "pvc-full"), SizeBytes: 1 << 30})
		var ce *rds.CommandError
		if !errors.Is(err, rds.ErrNoSpace) || !errors.As(err, &ce) {
			t.Fatalf("create on a full disk: %v; want a CommandError wrapping ErrNoSpace", err)
		}
		if errors.Is(err, rds.ErrUnavailable) {
			t.Fatalf("no-space answer classified as a transport failure: %v", err)
		}
	})

	t.Run("capacity is enforced", func(t *testing.T) {
		env := simtest.Start(t, simtest.WithCapacity(2<<30))
		c := connectedClient(t, env, 30*time.Second)
		_, err := c.CreateVolume(ctx, rds.CreateVolumeRequest{ID: "pvc-big", FilePath: rds.FilePathFor(rds.DefaultVolumePath, "pvc-big"), SizeBytes: 3 << 30})
		if !errors.Is(err, rds.ErrNoSpace) {
			t.Fatalf("create beyond capacity: %v; want ErrNoSpace", err)
		}
	})
}

func TestHostileInputNeverReachesTheEmulator(t *testing.T) {
	env := simtest.Start(t)
	c := connectedClient(t, env, 30*time.Second)
	ctx := context.Background()
	hostile := []string{"pvc-a;b", "pvc-a]b", `pvc-a"b`, "pvc-a\nb", "pvc-a b", "pvc-$x", "pvc-..", "../pvc"}
	before := len(env.Server.Commands())
	for _, h := range hostile {
		t.Run(fmt.Sprintf("%q", h), func(t *testing.T) {
			calls := map[string]error{}
			_, calls["GetVolume"] = c.GetVolume(ctx, h)
			_, calls["CreateVolume id"] = c.CreateVolume(ctx, rds.CreateVolumeRequest{ID: h, FilePath: "/storage-pool/x/y.img", SizeBytes: 1})
			_, calls["CreateVolume path"] = c.CreateVolume(ctx, rds.CreateVolumeRequest{ID: "pvc-ok", FilePath: "/storage-pool/" + h + ".img", SizeBytes: 1})
			_, calls["CreateVolume nqn"] = c.CreateVolume(ctx, rds.CreateVolumeRequest{ID: "pvc-ok", FilePath: "/storage-pool/x/pvc-ok.img", SizeBytes: 1, Export: true, Port: 4420, NQN: rds.NQNPrefix + h})
			_, calls["GrowVolume"] = c.GrowVolume(ctx, h, 1)
			calls["SetExport"] = c.SetExport(ctx, h, true)
			calls["DeleteVolume"] = c.DeleteVolume(ctx, h, "/storage-pool/x/y.img")
			_, calls["ListVolumes"] = c.ListVolumes(ctx, h)
			_, calls["PoolCapacity"] = c.PoolCapacity(ctx, "/storage-pool/"+h)
			for name, err := range calls {
				if !errors.Is(err, rds.ErrInvalidArgument) {
					t.Errorf("%s(%q) = %v, want ErrInvalidArgument", name, h, err)
				}
			}
		})
	}
	if after := env.Server.Commands(); len(after) != before {
		t.Fatalf("hostile input reached the emulator: %q", after[before:])
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
