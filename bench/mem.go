package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStatus reads a "kB" field (VmRSS, VmHWM) of /proc/<pid>/status, in
// bytes; 0 where there is no /proc.
func procStatus(pid, field string) int64 {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}

// rss is this process's resident set size after returning what the Go
// heap can give back to the OS. With STRAND_BENCH_MEMSTATS set it also
// prints the runtime's MemStats, then forces one more GC and prints them
// again: the second GC drops what sync.Pools kept through the first (the
// one debug.FreeOSMemory runs), so the second HeapAlloc is what a heap
// profile shows; the RSS returned is the one read before that second GC.
func rss() int64 {
	debug.FreeOSMemory()
	v := procStatus("self", "VmRSS")
	if os.Getenv("STRAND_BENCH_MEMSTATS") != "" {
		printMemStats("memstats", v)
		runtime.GC()
		debug.FreeOSMemory()
		printMemStats("memstats, one GC later (sync.Pool victims dropped)", procStatus("self", "VmRSS"))
	}
	return v
}

func printMemStats(what string, rss int64) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(os.Stderr, "%s (MB): heapalloc %d heapinuse %d heapidle %d released %d stackinuse %d gcsys %d other %d sys %d; rss %d = anon %d + file %d\n",
		what, m.HeapAlloc>>20, m.HeapInuse>>20, m.HeapIdle>>20, m.HeapReleased>>20, m.StackInuse>>20, m.GCSys>>20, m.OtherSys>>20, m.Sys>>20,
		rss>>20, procStatus("self", "RssAnon")>>20, procStatus("self", "RssFile")>>20)
}

// peak tracks the process's peak RSS over a cycle: VmHWM after resetting
// it through /proc/self/clear_refs where the kernel allows, else the
// largest VmRSS sampled every 20 ms.
type peak struct {
	once  sync.Once
	val   int64
	reset bool
	stopc chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	max   int64
}

func startPeak() *peak {
	p := &peak{stopc: make(chan struct{})}
	debug.FreeOSMemory() // start from what the process holds, not what the last cycle left in the heap
	p.reset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	p.wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			p.sample()
			select {
			case <-t.C:
			case <-p.stopc:
				return
			}
		}
	})
	return p
}

func (p *peak) sample() {
	v := procStatus("self", "VmRSS")
	p.mu.Lock()
	p.max = max(p.max, v)
	p.mu.Unlock()
}

// stop ends the sampling and returns the peak; later calls return the same.
func (p *peak) stop() int64 {
	p.once.Do(func() {
		close(p.stopc)
		p.wg.Wait()
		p.sample()
		p.val = p.max
		if p.reset {
			if hwm := procStatus("self", "VmHWM"); hwm > 0 {
				p.val = hwm
			}
		}
	})
	return p.val
}

// dirSize sums the sizes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += info.Size()
		}
		return nil
	})
	return n
}
