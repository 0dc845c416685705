package syscalls

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ReadMem copies len(buf) bytes at addr in process pid's memory into buf with
// process_vm_readv, which, unlike /proc/PID/mem opened before an exec, never
// reads stale zeros. It returns how many bytes were read; a short read past
// the end of a mapping is not an error.
func ReadMem(pid int, addr uint64, buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err != nil {
		return 0, fmt.Errorf("process_vm_readv(pid %d, %#x, %d): %w", pid, addr, len(buf), err)
	}
	return n, nil
}

// WriteMem copies buf to addr in process pid's memory with
// process_vm_writev. A short write is an error: the tracer writes only
// small structures the kernel itself has just written.
func WriteMem(pid int, addr uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := unix.ProcessVMWritev(pid, local, remote, 0)
	if err != nil {
		return fmt.Errorf("process_vm_writev(pid %d, %#x, %d): %w", pid, addr, len(buf), err)
	}
	if n != len(buf) {
		return fmt.Errorf("process_vm_writev(pid %d, %#x, %d): wrote %d bytes", pid, addr, len(buf), n)
	}
	return nil
}
