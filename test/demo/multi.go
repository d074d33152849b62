package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// The --multi walkthrough: two RDS emulators behind one controller
// (--rds-config), placement by the StorageClass parameter rds and by free
// space, then one RDS killed while the other keeps serving.

// unitSim is one emulator of the multi walkthrough.
type unitSim struct {
	name, ssh, control string
	args               []string
	proc               *process
}

// runMulti is run for --multi.
func (d *demo) runMulti(ctx context.Context) error {
	for _, s := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"setting up two RDS", d.setUpMulti},
		{"placing volumes", d.placeMulti},
		{"killing one RDS", d.outageMulti},
		{"stopping", d.stopMulti},
	} {
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	d.say("Demo finished in %.1fs.", time.Since(d.start).Seconds())
	return nil
}

func (d *demo) setUpMulti(ctx context.Context) error {
	d.section("Setting up two RDS units and one controller")
	simBin, csiBin, err := d.binariesAndDir()
	if err != nil {
		return err
	}
	file := func(name string) string { return filepath.Join(d.dir, name) }
	clientPub, err := newKeyFile(file("id_ed25519"), "rds-csi demo")
	if err != nil {
		return err
	}
	if err := os.WriteFile(file("authorized_keys"), clientPub, 0o600); err != nil {
		return err
	}
	d.simBin = simBin
	config := "units:\n"
	for _, u := range []struct{ name, capacity string }{{"a", "100G"}, {"b", "60G"}} {
		hostPub, err := newKeyFile(file(u.name+"_host_key"), "rds-sim "+u.name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(file(u.name+"_host_key.pub"), hostPub, 0o644); err != nil {
			return err
		}
		s := &unitSim{name: u.name}
		if s.ssh, err = freePort(); err != nil {
			return err
		}
		if s.control, err = freePort(); err != nil {
			return err
		}
		s.args = []string{"--listen=" + s.ssh, "--control=" + s.control, "--data-dir=" + file(u.name+"-data"),
			"--host-key=" + file(u.name+"_host_key"), "--authorized-keys=" + file("authorized_keys"),
			"--latency=" + d.opt.latency, "--capacity=" + u.capacity}
		if err := d.startUnitSim(ctx, s); err != nil {
			return err
		}
		d.units = append(d.units, s)
		config += fmt.Sprintf("- name: %s\n  address: %s\n  privateKey: %s\n  hostKey: %s\n", u.name, s.ssh, file("id_ed25519"), file(u.name+"_host_key.pub"))
		d.say("Started RDS emulator %s (pid %d) on %s with %s.", u.name, s.proc.pid(), s.ssh, u.capacity)
	}
	if err := os.WriteFile(file("rds.yaml"), []byte(config), 0o600); err != nil {
		return err
	}
	d.say("--rds-config %s:\n%s", file("rds.yaml"), strings.TrimRight(config, "\n"))
	metricsAddr, err := freePort()
	if err != nil {
		return err
	}
	socket := file("csi.sock")
	d.metricsURL, d.readyURL = "http://"+metricsAddr+"/metrics", "http://"+metricsAddr+"/readyz"
	args := append([]string{"--mode=controller", "--endpoint=unix://" + socket, "--rds-config=" + file("rds.yaml"),
		"--metrics-address=" + metricsAddr}, demoDriverFlags...)
	if d.driver, err = startProcess("rds-csi", file("rds-csi.log"), []string{"KUBERNETES_SERVICE_HOST"}, csiBin, args...); err != nil {
		return err
	}
	if err := waitFor(ctx, "the controller to connect (/readyz)", d.driver, func(ctx context.Context) bool {
		return strings.Count(d.readyz(ctx), "[+]") == 2
	}); err != nil {
		return err
	}
	if d.conn, err = grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return err
	}
	d.ctrl = csi.NewControllerClient(d.conn)
	d.say("Controller (pid %d) connected to both; /readyz?verbose:\n%s", d.driver.pid(), strings.TrimRight(d.readyz(ctx), "\n"))
	return nil
}

func (d *demo) startUnitSim(ctx context.Context, s *unitSim) error {
	var err error
	if s.proc, err = startProcess("rds-sim-"+s.name, filepath.Join(d.dir, "rds-sim-"+s.name+".log"), nil, d.simBin, s.args...); err != nil {
		return err
	}
	return waitFor(ctx, "emulator "+s.name, s.proc, func(ctx context.Context) bool {
		return httpOK(ctx, "http://"+s.control+"/healthz")
	})
}

// readyz returns the body of /readyz?verbose ("" on error).
func (d *demo) readyz(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.readyURL+"?verbose", nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func (d *demo) placeMulti(ctx context.Context) error {
	d.section("Placement")
	req := volumeRequest("pinned-to-b", 1<<30)
	req.Parameters = map[string]string{"rds": "b"}
	resp, err := d.ctrl.CreateVolume(ctx, req)
	if err != nil {
		return err
	}
	d.say("StorageClass parameter rds=b → volume %s (the id names the unit; the disk slot stays pvc-<uuid>).", resp.GetVolume().GetVolumeId())
	d.multiVolumes = append(d.multiVolumes, resp.GetVolume().GetVolumeId())
	count := map[string]int{}
	for i := range 10 {
		resp, err := d.ctrl.CreateVolume(ctx, volumeRequest(fmt.Sprintf("spread-%d", i), 8<<30))
		if err != nil {
			return err
		}
		id := resp.GetVolume().GetVolumeId()
		unit := "a"
		if strings.HasPrefix(id, "b:") {
			unit = "b"
		}
		count[unit]++
		d.multiVolumes = append(d.multiVolumes, id)
	}
	d.say("10 volumes of 8 GiB without the parameter: %d on a (100 GiB), %d on b (60 GiB): the most free space wins.", count["a"], count["b"])
	return nil
}

func (d *demo) outageMulti(ctx context.Context) error {
	d.section("RDS a goes away")
	a := d.units[0]
	a.proc.kill()
	d.say("Killed emulator a (pid %d) with SIGKILL.", a.proc.pid())
	if err := waitFor(ctx, "a to be seen as away", d.driver, func(ctx context.Context) bool {
		return strings.Contains(d.readyz(ctx), "[-]rds a")
	}); err != nil {
		return err
	}
	d.say("/readyz?verbose (still ready: b is connected):\n%s", strings.TrimRight(d.readyz(ctx), "\n"))
	// Unpinned: a might hold the name's disk from an attempt whose
	// answer was lost, so the name is not placed on b while a is away.
	_, err := d.ctrl.CreateVolume(ctx, volumeRequest("while-a-is-down-unpinned", 1<<30))
	if status.Code(err) != codes.Unavailable {
		return fmt.Errorf("unpinned CreateVolume while a is down: %w, want Unavailable", err)
	}
	d.say("CreateVolume without rds while a is down → %s: %s", status.Code(err), status.Convert(err).Message())
	req := volumeRequest("while-a-is-down", 1<<30)
	req.Parameters = map[string]string{"rds": "b"}
	start := time.Now()
	resp, err := d.ctrl.CreateVolume(ctx, req)
	if err != nil {
		return err
	}
	d.say("CreateVolume with rds: b while a is down → %s in %v.", resp.GetVolume().GetVolumeId(), time.Since(start).Round(time.Millisecond))
	d.multiVolumes = append(d.multiVolumes, resp.GetVolume().GetVolumeId())
	for _, id := range d.multiVolumes {
		if strings.HasPrefix(id, "b:") {
			continue
		}
		_, err := d.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id})
		d.say("DeleteVolume %s (on a) → %s: the sidecar retries until a is back.", id, status.Code(err))
		if status.Code(err) != codes.Unavailable {
			return fmt.Errorf("DeleteVolume of a volume on a while a is down: %w, want Unavailable", err)
		}
		break
	}
	if err := d.startUnitSim(ctx, a); err != nil {
		return err
	}
	if err := waitFor(ctx, "a to reconnect", d.driver, func(ctx context.Context) bool {
		return strings.Count(d.readyz(ctx), "[+]") == 2
	}); err != nil {
		return err
	}
	d.say("Restarted emulator a; the controller reconnected on its own:\n%s", strings.TrimRight(d.readyz(ctx), "\n"))
	for _, id := range d.multiVolumes {
		if _, err := d.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
			return fmt.Errorf("DeleteVolume %s: %w", id, err)
		}
	}
	d.say("Deleted all %d volumes, each on its own unit.", len(d.multiVolumes))
	return nil
}

func (d *demo) stopMulti(context.Context) error {
	d.section("Stopping")
	_ = d.conn.Close()
	d.conn = nil
	procs := []*process{d.driver}
	for _, u := range d.units {
		procs = append(procs, u.proc)
	}
	for _, p := range procs {
		if err := p.stop(stopGrace); err != nil {
			return err
		}
		d.say("Stopped %s (pid %d).", p.name, p.pid())
	}
	return nil
}
