package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadRDSConfig(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	host := filepath.Join(dir, "host.pub")
	for _, f := range []string{key, host} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	unit := func(name, addr string, extra ...string) string {
		s := "- name: " + name + "\n  address: " + addr + "\n  privateKey: " + key + "\n  hostKey: " + host + "\n"
		for _, e := range extra {
			s += "  " + e + "\n"
		}
		return s
	}
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // empty: valid
		check   func(t *testing.T, units []UnitSpec)
	}{
		{name: "two units", yaml: "units:\n" + unit("default", "10.0.0.1:22") + unit("b", "rds-b.example:2222", "nvmePort: 4421", "topology:", "  topology.rds.csi.srvlab.io/rds: rack-b"),
			check: func(t *testing.T, units []UnitSpec) {
				a, b := units[0], units[1]
				if !a.Legacy || b.Legacy || a.User != "admin" || a.NVMeAddress != "10.0.0.1" || a.NVMePort != 4420 {
					t.Errorf("defaults: %+v", a)
				}
				if b.NVMeAddress != "rds-b.example" || b.NVMePort != 4421 || b.Topology["topology.rds.csi.srvlab.io/rds"] != "rack-b" {
					t.Errorf("b: %+v", b)
				}
			}},
		{name: "duplicate names", yaml: "units:\n" + unit("a", "h:22") + unit("a", "h2:22"), wantErr: []string{`("a")`, "duplicate name"}},
		{name: "unreadable key", yaml: "units:\n- name: a\n  address: h:22\n  privateKey: /nonexistent/key\n  hostKey: " + host + "\n", wantErr: []string{"privateKey", "no such file"}},
		{name: "missing host key", yaml: "units:\n- name: a\n  address: h:22\n  privateKey: " + key + "\n", wantErr: []string{"hostKey is required"}},
		{name: "bad address", yaml: "units:\n" + unit("a", "no-port"), wantErr: []string{`address "no-port"`}},
		{name: "bad port", yaml: "units:\n" + unit("a", "h:99999"), wantErr: []string{"bad port"}},
		{name: "bad name", yaml: "units:\n" + unit("Rack_A", "h:22"), wantErr: []string{"name"}},
		{name: "two legacy", yaml: "units:\n" + unit("default", "h:22") + unit("b", "h2:22", "legacy: true"), wantErr: []string{"at most one"}},
		{name: "unknown field", yaml: "units:\n" + unit("a", "h:22", "pasword: x"), wantErr: []string{"pasword"}},
		{name: "bad topology", yaml: "units:\n" + unit("a", "h:22", "topology:", "  bad key!: x"), wantErr: []string{"topology key"}},
		{name: "no units", yaml: "units: []\n", wantErr: []string{"no units"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			units, err := LoadRDSConfig(path)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, units)
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestRDSConfigExcludesFlags(t *testing.T) {
	c := parse(t, "--mode=controller", "--rds-config=/nonexistent.yaml", "--rds-address=h:22")
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "--rds-address and --rds-config exclude each other") {
		t.Errorf("got %v", err)
	}
}

func TestParseNodeTopology(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{in: ""},
		{in: "topology.rds.csi.srvlab.io/rds=rack-a", want: map[string]string{"topology.rds.csi.srvlab.io/rds": "rack-a"}},
		{in: "a=1, b=2", want: map[string]string{"a": "1", "b": "2"}},
		{in: "a", wantErr: true},
		{in: "a=1,a=2", wantErr: true},
		{in: "a=x y", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseNodeTopology(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && len(got) != len(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s=%q, want %q", k, got[k], v)
				}
			}
		})
	}
}
