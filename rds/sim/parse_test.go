package sim

import "testing"

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"/disk foo", "bad command name foo (line 1 column 7)"},
		{"/dsk print", "bad command name dsk (line 1 column 2)"},
		{"/disk/frobnicate", "bad command name frobnicate (line 1 column 7)"},
		{"/system identity set name=x", "bad command name set (line 1 column 18)"},
		{"/disk add type=file bogus=1", "expected end of command (line 1 column 21)"},
		{"/disk add file-size 10G", "expected end of command (line 1 column 11)"},
		{"/disk print detial", "expected end of command (line 1 column 13)"},
		{"/disk print detail where bogus=x", "expected end of command (line 1 column 26)"},
		{"/disk print detail where slot", "expected end of command (line 1 column 30)"},
		{`/disk add slot="abc`, "expected end of command (line 1 column 16)"},
		{`/disk add slot=a;/system reboot`, "expected end of command (line 1 column 17)"},
		{"/disk add slot=a\n/system reboot", "expected end of command (line 1 column 17)"},
		{`/disk add slot="a$b"`, "expected end of command (line 1 column 18)"},
		{`/disk add slot="a"b`, "expected end of command (line 1 column 19)"},
		{`/disk add slot="a\qb"`, "expected end of command (line 1 column 18)"},
		{"/disk remove [lookup slot=x]", "bad command name lookup (line 1 column 15)"},
		{"/disk remove [find slot=x", "expected end of command (line 1 column 26)"},
		{"/disk remove [find slot=x] [find]", "expected end of command (line 1 column 28)"},
		{"/disk remove [find slot=x]x", "expected end of command (line 1 column 27)"},
		{"/disk set [find bogus=x] file-size=1G", "expected end of command (line 1 column 17)"},
		{"/disk add slot=[find]", "invalid value for argument slot"},
		{`/disk print where slot~"(["`, "invalid value for argument slot"},
		{"/disk add =x", "expected end of command (line 1 column 11)"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			_, err := parseCommand(tc.line)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	for _, tc := range []struct {
		line string
		verb verb
		args map[string]string
		sel  string // key=value of the selector's single condition
		whr  string // op and value of the where's first condition
	}{
		{line: "/disk add type=file file-path=/storage-pool/a.img file-size=10G slot=pvc-a nvme-tcp-export=yes nvme-tcp-server-port=4420 nvme-tcp-server-nqn=nqn.2000-02.com.mikrotik:pvc-a",
			verb: verbDiskAdd, args: map[string]string{"type": "file", "file-size": "10G", "nvme-tcp-server-nqn": "nqn.2000-02.com.mikrotik:pvc-a"}},
		{line: "/disk add type=file copy-from=[find slot=pvc-a] file-path=/storage-pool/b.img slot=snap-b",
			verb: verbDiskAdd, args: map[string]string{"slot": "snap-b"}},
		{line: "/disk/add slot=x", verb: verbDiskAdd, args: map[string]string{"slot": "x"}},
		{line: `  /disk add slot="a\"b\\c\_d\41"  `, verb: verbDiskAdd, args: map[string]string{"slot": `a"b\c dA`}},
		{line: "/disk print detail where slot=pvc-a", verb: verbDiskPrint, whr: "=pvc-a"},
		{line: `/disk print detail where slot="pvc-a"`, verb: verbDiskPrint, whr: "=pvc-a"},
		{line: `/disk print detail where slot~"^pvc-"`, verb: verbDiskPrint, whr: "~^pvc-"},
		{line: `/disk print detail without-paging where mount-point="storage-pool"`, verb: verbDiskPrint, whr: "=storage-pool"},
		{line: "/disk print detail", verb: verbDiskPrint},
		{line: "/disk set [find slot=pvc-a] file-size=20G", verb: verbDiskSet, sel: "slot=pvc-a", args: map[string]string{"file-size": "20G"}},
		{line: "/disk set [ find where slot=pvc-a ] nvme-tcp-export=no", verb: verbDiskSet, sel: "slot=pvc-a"},
		{line: "/disk remove [find slot=pvc-a]", verb: verbDiskRemove, sel: "slot=pvc-a"},
		{line: `/file remove [find name="storage-pool/a.img"]`, verb: verbFileRemove, sel: "name=storage-pool/a.img"},
		{line: `/file print detail where name~"pvc-"`, verb: verbFilePrint, whr: "~pvc-"},
		{line: "/system identity print\r\n", verb: verbIdentityPrint},
	} {
		t.Run(tc.line, func(t *testing.T) {
			cmd, err := parseCommand(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if cmd.spec.verb != tc.verb {
				t.Errorf("verb %d, want %d", cmd.spec.verb, tc.verb)
			}
			for k, v := range tc.args {
				found := false
				for _, a := range cmd.args {
					if a.name == k {
						found = true
						if a.value != v {
							t.Errorf("%s=%q, want %q", k, a.value, v)
						}
					}
				}
				if !found {
					t.Errorf("argument %s missing", k)
				}
			}
			if tc.sel != "" {
				if cmd.selector == nil || len(cmd.selector.conds) != 1 || cmd.selector.conds[0].key+"="+cmd.selector.conds[0].value != tc.sel {
					t.Errorf("selector %+v, want %s", cmd.selector, tc.sel)
				}
			}
			if tc.whr != "" {
				if len(cmd.where) == 0 || string(cmd.where[0].op)+cmd.where[0].value != tc.whr {
					t.Errorf("where %+v, want %s", cmd.where, tc.whr)
				}
			}
		})
	}
}

func TestParseMenuOnly(t *testing.T) {
	cmd, err := parseCommand("/disk")
	if err != nil || cmd.spec != nil {
		t.Errorf("got %+v, %v; want a bare menu", cmd, err)
	}
}
