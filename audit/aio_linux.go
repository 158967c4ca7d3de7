//go:build linux && (amd64 || arm64)

package audit

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// asyncSync runs fdatasync through the kernel's native asynchronous I/O
// (io_submit with IOCB_CMD_FDSYNC), and learns of completions from an
// eventfd that the runtime's network poller watches.
//
// A blocking fdatasync holds an OS thread, and its processor, for the
// whole flush. Under load the runtime then hands the processor to another
// thread, wakes one for it, puts the syncer's thread to sleep when the
// call returns, and keeps its monitor thread polling every 20 µs for a
// millisecond after each such hand-off: on a virtual disk this cost an
// audited exchange several times the flush's own CPU. Submitted
// asynchronously, the flush runs on a kernel worker and no thread of the
// server waits for it: the syncer goroutine parks like any other.
type asyncSync struct {
	ctx    uintptr  // aio_context_t
	efd    int      // the eventfd completions are signalled on
	events *os.File // efd, read through the poller

	mu     sync.Mutex
	next   uint64
	waits  map[uint64]chan int64 // by iocb data: res of each flush in flight
	refuse bool                  // submit refuses: closing, or the reaper stopped
	closed bool
	flying sync.WaitGroup // flushes submitted and not yet answered
	reaped chan struct{}
}

// Kernel ABI, include/uapi/linux/aio_abi.h. The layout of iocb below is
// that of little-endian machines (aio_key before aio_rw_flags), which is
// why this file builds for amd64 and arm64 only.
const (
	iocbCmdFdsync = 3
	iocbFlagResfd = 1 << 0
	aioRingEvents = 64
)

type iocb struct {
	data      uint64
	key       uint32
	rwFlags   uint32
	opcode    uint16
	reqprio   int16
	fildes    uint32
	buf       uint64
	nbytes    uint64
	offset    int64
	reserved2 uint64
	flags     uint32
	resfd     uint32
}

type ioEvent struct {
	data uint64
	obj  uint64
	res  int64
	res2 int64
}

// errAsyncSyncClosed refuses a flush submitted after close; the log then
// syncs the segment itself.
var errAsyncSyncClosed = errors.New("audit: asynchronous sync closed")

// newAsyncSync sets up an AIO context and its eventfd. It fails where the
// kernel has no native AIO (or a sandbox forbids it); the log then syncs
// with blocking fdatasync.
func newAsyncSync() (*asyncSync, error) {
	var ctx uintptr
	if _, _, e := syscall.Syscall(syscall.SYS_IO_SETUP, aioRingEvents, uintptr(unsafe.Pointer(&ctx)), 0); e != 0 {
		return nil, os.NewSyscallError("io_setup", e)
	}
	fd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		syscall.Syscall(syscall.SYS_IO_DESTROY, ctx, 0, 0)
		return nil, os.NewSyscallError("eventfd2", e)
	}
	a := &asyncSync{
		ctx: ctx, efd: int(fd),
		// A non-blocking descriptor: reads park the goroutine in the poller.
		events: os.NewFile(fd, "audit-sync-eventfd"),
		waits:  make(map[uint64]chan int64), reaped: make(chan struct{}),
	}
	go a.reap()
	return a, nil
}

// submit queues an fdatasync of fd and returns the channel its result
// (0, or a negated errno) arrives on. The kernel holds its own reference
// to the file from here on, so fd may be closed before the flush ends.
func (a *asyncSync) submit(fd uintptr) (chan int64, error) {
	ch := make(chan int64, 1)
	a.mu.Lock()
	if a.refuse {
		a.mu.Unlock()
		return nil, errAsyncSyncClosed
	}
	id := a.next
	a.next++
	a.waits[id] = ch
	a.flying.Add(1)
	a.mu.Unlock()
	cb := &iocb{data: id, opcode: iocbCmdFdsync, fildes: uint32(fd), flags: iocbFlagResfd, resfd: uint32(a.efd)}
	list := [1]uintptr{uintptr(unsafe.Pointer(cb))}
	n, _, e := syscall.Syscall(syscall.SYS_IO_SUBMIT, a.ctx, 1, uintptr(unsafe.Pointer(&list[0])))
	runtime.KeepAlive(cb) // read by the kernel during the call only
	if e != 0 || n != 1 {
		a.mu.Lock()
		delete(a.waits, id)
		a.mu.Unlock()
		a.flying.Done()
		if e == 0 {
			e = syscall.EAGAIN
		}
		return nil, e
	}
	return ch, nil
}

// reap hands each completion to its waiter, until the eventfd closes.
// Should it stop while flushes are in flight, their outcome is unknown:
// they fail, and later flushes are refused (the log then syncs itself).
func (a *asyncSync) reap() {
	defer close(a.reaped)
	defer a.abandon()
	var count [8]byte
	var evs [16]ioEvent
	var zero syscall.Timespec
	for {
		if _, err := a.events.Read(count[:]); err != nil {
			return
		}
		for {
			n, _, e := syscall.Syscall6(syscall.SYS_IO_GETEVENTS, a.ctx, 0, uintptr(len(evs)),
				uintptr(unsafe.Pointer(&evs[0])), uintptr(unsafe.Pointer(&zero)), 0)
			if e == syscall.EINTR {
				continue
			}
			if e != 0 || n == 0 {
				break
			}
			for _, ev := range evs[:n] {
				a.complete(ev.data, ev.res)
			}
			if int(n) < len(evs) {
				break
			}
		}
	}
}

// complete answers the flush named id with res.
func (a *asyncSync) complete(id uint64, res int64) {
	a.mu.Lock()
	ch, ok := a.waits[id]
	delete(a.waits, id)
	a.mu.Unlock()
	if ok {
		ch <- res
		a.flying.Done()
	}
}

// abandon refuses new flushes and fails those still waiting.
func (a *asyncSync) abandon() {
	a.mu.Lock()
	a.refuse = true
	waiting := a.waits
	a.waits = make(map[uint64]chan int64)
	a.mu.Unlock()
	for _, ch := range waiting {
		ch <- -int64(syscall.EIO)
		a.flying.Done()
	}
}

// close waits for every flush in flight to be answered, then releases
// the context and stops the reaper. Flushes submitted after it fail.
func (a *asyncSync) close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed, a.refuse = true, true
	a.mu.Unlock()
	a.flying.Wait()
	syscall.Syscall(syscall.SYS_IO_DESTROY, a.ctx, 0, 0)
	a.events.Close() // ends the reaper's read
	<-a.reaped
}
