package dbtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Disk is a small ext4 filesystem of a test's own (a file on a loop
// device), which the test can fill to the last block, free again, or
// turn read-only under open files the way ext4 does on an error
// (errors=remount-ro). It needs root (to mount) and mkfs.ext4.
type Disk struct {
	t      testing.TB
	Dir    string // where it is mounted
	dev    string // its loop device, e.g. loop3
	filler string
}

// NewDisk makes and mounts a filesystem of size bytes, unmounted when
// the test ends. Where mounting is impossible (not root, no loop device,
// no mkfs.ext4) it skips the test, or fails it under
// GATEHOUSE_TEST_ALL=1.
func NewDisk(t testing.TB, size int64) *Disk {
	t.Helper()
	cannot := func(why string) {
		t.Helper()
		if os.Getenv("GATEHOUSE_TEST_ALL") == "1" {
			t.Fatalf("a small filesystem cannot be mounted (%s) and GATEHOUSE_TEST_ALL=1: the disk tests must run", why)
		}
		t.Skipf("disk test skipped: a small filesystem cannot be mounted here (%s); it needs root, a loop device and mkfs.ext4", why)
	}
	if os.Geteuid() != 0 {
		cannot("not root")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		cannot("no mkfs.ext4")
	}
	base, err := os.MkdirTemp("", "gatehouse-disk-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	img, dir := filepath.Join(base, "disk.img"), filepath.Join(base, "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img) // #nosec G304 -- a path under the test's own temporary directory
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// -m 0: no blocks reserved for root, so root fills it like anyone.
	if out, err := command("mkfs.ext4", "-q", "-F", "-m", "0", img); err != nil {
		cannot("mkfs.ext4: " + strings.TrimSpace(string(out)))
	}
	if out, err := command("mount", "-o", "loop,errors=remount-ro", img, dir); err != nil {
		cannot("mount: " + strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		// The portal's files may still be open: detach lazily.
		if out, err := command("umount", "-l", dir); err != nil {
			t.Logf("umount %s: %v %s", dir, err, out)
		}
	})
	src, err := command("findmnt", "-n", "-o", "SOURCE", dir)
	if err != nil {
		t.Fatalf("findmnt: %v %s", err, src)
	}
	return &Disk{t: t, Dir: dir, dev: filepath.Base(strings.TrimSpace(string(src))), filler: filepath.Join(dir, "filler")}
}

func command(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput() // #nosec G204 -- tests only: fixed programs (mkfs.ext4, mount, umount, findmnt) on paths the test made
}

// Fill writes a file until the filesystem has no block left.
func (d *Disk) Fill() {
	d.t.Helper()
	f, err := os.OpenFile(d.filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4096, 512} {
		buf := bytes.Repeat([]byte{'x'}, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					d.t.Fatalf("filling %s: %v", d.Dir, err)
				}
				break
			}
		}
	}
	f.Sync() // may itself find no space left
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.Dir, &st); err != nil {
		d.t.Fatal(err)
	}
	if st.Bavail != 0 {
		d.t.Fatalf("%s still has %d blocks free after filling", d.Dir, st.Bavail)
	}
}

// Free removes what Fill wrote.
func (d *Disk) Free() {
	d.t.Helper()
	if err := os.Remove(d.filler); err != nil {
		d.t.Fatal(err)
	}
	syscall.Sync()
}

// BreakReadOnly makes ext4 report an error on the filesystem, which
// (mounted errors=remount-ro) then turns read-only at once, under every
// file open on it: each later write fails with EROFS, as after a disk
// fault in production. It stays so until unmounted and checked.
func (d *Disk) BreakReadOnly() {
	d.t.Helper()
	trigger := filepath.Join("/sys/fs/ext4", d.dev, "trigger_fs_error")
	if err := os.WriteFile(trigger, []byte("gatehouse test: read-only from here\n"), 0o200); err != nil {
		d.t.Fatalf("making %s read-only through %s: %v", d.Dir, trigger, err)
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "probe"), nil, 0o600); !errors.Is(err, syscall.EROFS) {
		d.t.Fatalf("%s after the error: a write gives %v, want EROFS", d.Dir, err)
	}
}
