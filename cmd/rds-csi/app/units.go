package app

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/rds"
)

// RDS units. --rds-config names a YAML file (mounted from a ConfigMap, the
// keys from a Secret) listing every RDS the controller manages:
//
//	units:
//	- name: a                      # [a-z0-9-], at most 32: StorageClass parameter rds, volume ids, events, metrics
//	  address: 10.0.0.1:22         # SSH host:port
//	  user: admin                  # default admin
//	  privateKey: /etc/rds/a/key   # file
//	  hostKey: /etc/rds/a/host.pub # file, pinned
//	  nvmeAddress: 10.0.1.1        # default: the host of address
//	  nvmePort: 4420               # default 4420
//	  topology:                    # optional segments a node must reach
//	    topology.rds.csi.srvlab.io/rds: rack-a
//	  legacy: true                 # optional: bare volume ids (see docs/migrate.md)
//
// Without --rds-config the single-RDS flags describe one unit named
// "default", which is legacy: nothing changes for existing installations.

// RDSConfigFile is the schema of --rds-config. Unknown fields are errors.
type RDSConfigFile struct {
	Units []UnitSpec `json:"units"`
}

// UnitSpec is one RDS unit, from --rds-config or from the single-RDS flags.
type UnitSpec struct {
	Name        string            `json:"name"`
	Address     string            `json:"address"`
	User        string            `json:"user,omitempty"`
	PrivateKey  string            `json:"privateKey"`
	HostKey     string            `json:"hostKey,omitempty"`
	NVMeAddress string            `json:"nvmeAddress,omitempty"`
	NVMePort    int               `json:"nvmePort,omitempty"`
	Topology    map[string]string `json:"topology,omitempty"`
	Legacy      bool              `json:"legacy,omitempty"`
	// InsecureSkipHostKeyCheck accepts any host key: tests only.
	InsecureSkipHostKeyCheck bool `json:"insecureSkipHostKeyCheck,omitempty"`
}

// LoadRDSConfig reads and validates an --rds-config file, filling in the
// defaults. Every problem is reported at once, naming the unit.
func LoadRDSConfig(path string) ([]UnitSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--rds-config: %w", err)
	}
	var f RDSConfigFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("--rds-config %s: %w", path, err)
	}
	if len(f.Units) == 0 {
		return nil, fmt.Errorf("--rds-config %s: no units", path)
	}
	var errs []error
	seen := map[string]bool{}
	var legacy []string
	for i := range f.Units {
		u := &f.Units[i]
		u.applyDefaults()
		where := fmt.Sprintf("--rds-config %s: unit %d (%q)", path, i, u.Name)
		if seen[u.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", where))
		}
		seen[u.Name] = true
		if u.Legacy {
			legacy = append(legacy, u.Name)
		}
		if err := u.validate(true); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	if len(legacy) > 1 {
		errs = append(errs, fmt.Errorf("--rds-config %s: units %s are legacy (bare volume ids); at most one may be", path, strings.Join(legacy, ", ")))
	}
	return f.Units, errors.Join(errs...)
}

// applyDefaults fills what a unit may leave out. The unit named "default"
// is the single-RDS driver's: legacy.
func (u *UnitSpec) applyDefaults() {
	if u.User == "" {
		u.User = "admin"
	}
	if u.NVMeAddress == "" {
		u.NVMeAddress, _, _ = net.SplitHostPort(u.Address)
	}
	if u.NVMePort == 0 {
		u.NVMePort = rds.DefaultNVMeTCPPort
	}
	if u.Name == driver.DefaultUnitName {
		u.Legacy = true
	}
}

// validate checks one unit; readKeys also opens the key files (a unit from
// the flags keeps the flags' own checks).
func (u *UnitSpec) validate(readKeys bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := driver.ValidateUnitName(u.Name); err != nil {
		bad("name: %w", err)
	}
	if host, port, err := net.SplitHostPort(u.Address); err != nil || host == "" || port == "" {
		bad("address %q: want host:port", u.Address)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		bad("address %q: bad port", u.Address)
	}
	if strings.ContainsAny(u.User, " \t\n") || u.User == "" {
		bad("user %q is not a RouterOS user name", u.User)
	}
	if readKeys {
		if u.PrivateKey == "" {
			bad("privateKey is required")
		} else if _, err := os.ReadFile(u.PrivateKey); err != nil {
			bad("privateKey: %w", err)
		}
		switch {
		case u.HostKey != "" && u.InsecureSkipHostKeyCheck:
			bad("hostKey and insecureSkipHostKeyCheck exclude each other")
		case u.HostKey == "" && !u.InsecureSkipHostKeyCheck:
			bad("hostKey is required (the RDS host key is pinned)")
		case u.HostKey != "":
			if _, err := os.ReadFile(u.HostKey); err != nil {
				bad("hostKey: %w", err)
			}
		}
	}
	if ip := net.ParseIP(u.NVMeAddress); ip == nil {
		if msgs := validation.IsDNS1123Subdomain(u.NVMeAddress); len(msgs) > 0 {
			bad("nvmeAddress %q: neither an IP address nor a DNS name", u.NVMeAddress)
		}
	}
	if u.NVMePort < 1 || u.NVMePort > 65535 {
		bad("nvmePort %d: out of range", u.NVMePort)
	}
	for k, v := range u.Topology {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			bad("topology key %q: %s", k, strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 || v == "" {
			bad("topology %s=%q: not a label value", k, v)
		}
	}
	return errors.Join(errs...)
}

// ParseNodeTopology parses --node-topology: key=value pairs separated by
// commas, keys and values as Kubernetes labels.
func ParseNodeTopology(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	t := map[string]string{}
	var errs []error
	for pair := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("--node-topology: %q is not key=value", pair))
			continue
		case len(validation.IsQualifiedName(k)) > 0:
			errs = append(errs, fmt.Errorf("--node-topology: key %q is not a label key", k))
		case v == "" || len(validation.IsValidLabelValue(v)) > 0:
			errs = append(errs, fmt.Errorf("--node-topology: %s=%q is not a label value", k, v))
		case t[k] != "":
			errs = append(errs, fmt.Errorf("--node-topology: key %q twice", k))
		}
		t[k] = v
	}
	return t, errors.Join(errs...)
}

// unitSpecs returns the units the controller manages: the --rds-config file
// (already loaded by Validate), or the single-RDS flags as unit "default".
func (c *Config) unitSpecs() []UnitSpec {
	if c.RDSConfig != "" {
		return c.units
	}
	u := UnitSpec{
		Name:                     driver.DefaultUnitName,
		Address:                  c.RDSAddress,
		User:                     c.RDSUser,
		PrivateKey:               c.RDSPrivateKey,
		HostKey:                  c.RDSHostKey,
		InsecureSkipHostKeyCheck: c.RDSInsecureSkipHost,
	}
	u.applyDefaults()
	return []UnitSpec{u}
}
