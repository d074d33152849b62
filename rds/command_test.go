package rds

import (
	"errors"
	"fmt"
	"testing"
)

const (
	testID   = "pvc-3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b"
	testPath = "/storage-pool/metal-csi/" + testID + ".img"
	testNQN  = NQNPrefix + testID
)

func TestCommandsExact(t *testing.T) {
	build := func(cmd string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	exported := CreateVolumeRequest{ID: testID, FilePath: testPath, Export: true, Port: 4420, NQN: testNQN}
	snapshot := CreateVolumeRequest{ID: "snap-1", FilePath: "/storage-pool/metal-csi/snap-1.img", CopyFrom: testID}
	clone := exported
	clone.CopyFrom = "pvc-src"
	for _, tc := range []struct{ name, got, want string }{{
		"create exported", build(createDiskCommand(exported, "10G")),
		"/disk add type=file file-path=" + testPath + " file-size=10G slot=" + testID +
			" nvme-tcp-export=yes nvme-tcp-server-port=4420 nvme-tcp-server-nqn=" + testNQN,
	}, {
		"create unexported", build(createDiskCommand(CreateVolumeRequest{ID: "pvc-a", FilePath: "/storage-pool/x/pvc-a.img"}, "1536M")),
		"/disk add type=file file-path=/storage-pool/x/pvc-a.img file-size=1536M slot=pvc-a",
	}, {
		"copy keeping the source size", build(createDiskCommand(snapshot, "")),
		"/disk add type=file copy-from=[find slot=" + testID + "] file-path=/storage-pool/metal-csi/snap-1.img slot=snap-1",
	}, {
		"clone with size and export", build(createDiskCommand(clone, "20G")),
		"/disk add type=file copy-from=[find slot=pvc-src] file-path=" + testPath + " slot=" + testID +
			" file-size=20G nvme-tcp-export=yes nvme-tcp-server-port=4420 nvme-tcp-server-nqn=" + testNQN,
	}, {
		"get", build(getDiskCommand(testID)),
		"/disk print detail where slot=" + testID,
	}, {
		"list", build(listDisksCommand("pvc-")),
		`/disk print detail where slot~"pvc-"`,
	}, {
		"grow", build(growDiskCommand(testID, "10241M")),
		"/disk set [find slot=" + testID + "] file-size=10241M",
	}, {
		"export on", build(exportCommand(testID, true, 0, "")),
		"/disk set [find slot=" + testID + "] nvme-tcp-export=yes",
	}, {
		"export on with port and NQN", build(exportCommand(testID, true, 4420, testNQN)),
		"/disk set [find slot=" + testID + "] nvme-tcp-export=yes nvme-tcp-server-port=4420 nvme-tcp-server-nqn=" + testNQN,
	}, {
		"export off", build(exportCommand(testID, false, 0, "")),
		"/disk set [find slot=" + testID + "] nvme-tcp-export=no",
	}, {
		"remove disk", build(removeDiskCommand(testID)),
		"/disk remove [find slot=" + testID + "]",
	}, {
		"remove file", build(removeFileCommand(testPath)),
		`/file remove [find name="storage-pool/metal-csi/` + testID + `.img"]`,
	}, {
		"list files", build(listFilesCommand("/storage-pool/metal-csi")),
		`/file print detail where name~"^storage-pool/metal-csi/"`,
	}, {
		"pool capacity", build(poolCapacityCommand("/storage-pool/metal-csi")),
		`/disk print detail where mount-point="storage-pool"`,
	}, {
		"pool capacity of a pool root", build(poolCapacityCommand("/storage-pool")),
		`/disk print detail where mount-point="storage-pool"`,
	}, {
		"identity", identityCommand,
		"/system identity print",
	}} {
		if tc.got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, tc.got, tc.want)
		}
	}
}

func TestFilterValue(t *testing.T) {
	for in, want := range map[string]string{
		"pvc-a":              "pvc-a",
		"A.b_c-9":            "A.b_c-9",
		"storage-pool/x.img": `"storage-pool/x.img"`,
		"nqn.2000-02.x:y":    `"nqn.2000-02.x:y"`,
	} {
		if got := filterValue(in); got != want {
			t.Errorf("filterValue(%q) = %s, want %s", in, got, want)
		}
	}
}

// hostileValues must never reach a command line.
var hostileValues = []string{
	"", " ", "pvc-a;/system reboot", "pvc-a]", "[find]", "pvc-\"a", `pvc-\a`, "pvc-$a", "$(x)",
	"pvc-a\n/system reboot", "pvc-a\r", "pvc a", "..", "../x", "pvc-a\x00", "PVC-A", "pvc-a`x`",
}

var hostilePaths = []string{
	"", "/", "relative/x.img", "/storage-pool", "/storage-pool/../etc/passwd", "/storage-pool/./x.img",
	"/storage-pool/x.img;/system reboot", "/storage-pool/x].img", "/storage-pool/[x.img", "/storage-pool/x\".img",
	`/storage-pool/x\.img`, "/storage-pool/$x.img", "/storage-pool/x\n.img", "/storage-pool/x .img",
	"/storage-pool//x.img", "/storage-pool/x.img/",
}

var hostileNQNs = []string{
	"", "nqn.2000-02.com.mikrotik:pvc a", "nqn.2000-02.com.mikrotik:pvc;a", "nqn.2000-02.com.mikrotik:\"",
	"nqn.2000-02.com.mikrotik:pvc]", "nqn.2000-02.com.mikrotik:$x", "nqn.2000-02.com.mikrotik:a\nb", "x",
}

// TestCommandsRefuseHostileInput proves that no builder produces a command
// from a hostile id, path, NQN, prefix, port or size.
func TestCommandsRefuseHostileInput(t *testing.T) {
	type build func() (string, error)
	cases := map[string]build{}
	for _, v := range hostileValues {
		cases["create id "+v] = func() (string, error) {
			return createDiskCommand(CreateVolumeRequest{ID: v, FilePath: testPath}, "1G")
		}
		cases["copy source "+v] = func() (string, error) {
			return createDiskCommand(CreateVolumeRequest{ID: testID, FilePath: testPath, CopyFrom: v}, "")
		}
		cases["get "+v] = func() (string, error) { return getDiskCommand(v) }
		cases["list "+v] = func() (string, error) { return listDisksCommand(v) }
		cases["grow "+v] = func() (string, error) { return growDiskCommand(v, "1G") }
		cases["export "+v] = func() (string, error) { return exportCommand(v, true, 0, "") }
		cases["remove disk "+v] = func() (string, error) { return removeDiskCommand(v) }
		cases["file-size "+v] = func() (string, error) { return growDiskCommand(testID, v) }
	}
	for _, p := range hostilePaths {
		cases["create path "+p] = func() (string, error) {
			return createDiskCommand(CreateVolumeRequest{ID: testID, FilePath: p}, "1G")
		}
		cases["remove file "+p] = func() (string, error) { return removeFileCommand(p) }
		if p != "/storage-pool" { // a pool root is a valid volume path
			cases["pool "+p] = func() (string, error) { return poolCapacityCommand(p) }
			cases["list files "+p] = func() (string, error) { return listFilesCommand(p) }
		}
	}
	for _, n := range hostileNQNs {
		cases["create NQN "+n] = func() (string, error) {
			return createDiskCommand(CreateVolumeRequest{ID: testID, FilePath: testPath, Export: true, Port: 4420, NQN: n}, "1G")
		}
		cases["export NQN "+n] = func() (string, error) { return exportCommand(testID, true, 4420, n) }
	}
	for _, port := range []int{-1, 0, 65536} {
		cases[fmt.Sprint("create port ", port)] = func() (string, error) {
			return createDiskCommand(CreateVolumeRequest{ID: testID, FilePath: testPath, Export: true, Port: port, NQN: testNQN}, "1G")
		}
	}
	for _, size := range []string{"", "0", "0G", "1P", "1.5G", "-1G", "1 G", "1G;", "99999999999999999"} {
		cases["create size "+size] = func() (string, error) {
			return createDiskCommand(CreateVolumeRequest{ID: testID, FilePath: testPath}, size)
		}
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			cmd, err := b()
			if cmd != "" || !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("built %q, err %v; want no command and ErrInvalidArgument", cmd, err)
			}
		})
	}
}

func TestCheckCommand(t *testing.T) {
	for _, bad := range []string{"/disk print;", "/disk print\n", "/x $y", `/x \y`, "/x `y`", "/x \x7f"} {
		if cmd, err := checkCommand(bad); cmd != "" || !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("checkCommand(%q) = %q, %v", bad, cmd, err)
		}
	}
	if _, err := checkCommand(`/disk print detail where slot~"pvc-"`); err != nil {
		t.Error(err)
	}
}
