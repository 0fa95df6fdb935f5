package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// lockFile is the file in a server's data directory that an exclusive lock
// on marks the directory as in use; it holds the pid of the server's process.
const lockFile = "strand.lock"

// ErrDataDirInUse is returned by Start when another server, in this
// process or another, runs on the same data directory: two JetStream servers
// on one directory overwrite each other's files and lose tasks.
var ErrDataDirInUse = errors.New("data directory in use")

// dataDirInUseError says which directory and, when the holder wrote it,
// which process holds it.
type dataDirInUseError struct {
	dir string
	pid int // 0: not known
}

func (e *dataDirInUseError) Error() string {
	if e.pid == 0 {
		return fmt.Sprintf("data directory %s is in use by another server", e.dir)
	}
	return fmt.Sprintf("data directory %s is in use by another server (pid %d)", e.dir, e.pid)
}

func (e *dataDirInUseError) Is(target error) bool { return target == ErrDataDirInUse }

// dirLock is an exclusive lock on a data directory, held by an open lock
// file. The kernel drops it when the process dies, so a killed server
// leaves no lock behind, only the file.
type dirLock struct {
	f    *os.File
	once sync.Once
}

// lockDataDir creates dir if needed and takes its lock, or fails with
// ErrDataDirInUse at once when another server holds it.
func lockDataDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFile)
	// Not O_TRUNC: the file holds the pid of whoever has the lock.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	held, err := tryLock(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	if held {
		b, _ := os.ReadFile(path)
		_ = f.Close()
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b))) // empty while the holder is writing it
		return nil, &dataDirInUseError{dir: dir, pid: pid}
	}
	if err = f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	return &dirLock{f: f}, nil
}

// release empties the lock file and drops the lock; it is safe to call
// more than once. The file stays: removing it would let a server that
// opened it just before lock a file no one else sees.
func (l *dirLock) release() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		_ = l.f.Truncate(0)
		_ = l.f.Close() // closing the last descriptor drops the lock
	})
}
