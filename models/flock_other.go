//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package models

import (
	"errors"
	"os"
)

// errNoFileLock: the audit stream's locks need flock(2).
var errNoFileLock = errors.New("audit stream: file locks are not supported on this system")

func tryLockFile(*os.File) (bool, error) { return false, errNoFileLock }

func unlockFile(*os.File) error { return errNoFileLock }
